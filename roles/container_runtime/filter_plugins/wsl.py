"""Which Windows Subsystem for Linux a host is, shared by the container_runtime role and `aishell-run`.

The CLI loads this same file (aishell_runner/platforms/wsl.py), so the role and
the CLI cannot disagree. Any one of three signals is enough, because each can
be missing: sudo and ssh strip WSL_DISTRO_NAME, a custom WSL2 kernel need not
say "microsoft" in its release, and interop can be turned off in wsl.conf.
"""

from __future__ import annotations

import re

# WSL1 has no Linux kernel: Windows answers with a fixed release that ends in
# "-Microsoft" (capital M), e.g. "4.4.0-19041-Microsoft".
_WSL1_RELEASE = re.compile(r"^4\.4\.0-\d+-Microsoft$")
# Interop registrations: "WSLInterop" on WSL1 and older WSL2, "WSLInterop-late" on WSL 2.x.
INTEROP_FILES = ("/proc/sys/fs/binfmt_misc/WSLInterop", "/proc/sys/fs/binfmt_misc/WSLInterop-late")


def wsl_kind(kernel_release: str, distro_name: str = "", interop: bool = False) -> str:
    """'wsl1', 'wsl2', or '' (not WSL) from `uname -r`, $WSL_DISTRO_NAME and whether an interop file exists."""
    release = (kernel_release or "").strip()
    if _WSL1_RELEASE.match(release):
        return "wsl1"
    if "microsoft" in release.lower() or (distro_name or "").strip() or interop:
        return "wsl2"
    return ""


def wsl_drive_path(path: str) -> str:
    """The Windows drive a path lives on through /mnt/<drive> (e.g. 'c'), or '' for the Linux filesystem."""
    match = re.match(r"^/mnt/([a-zA-Z])(/|$)", path or "")
    return match.group(1).lower() if match else ""


def wsl_conf_systemd(text: str) -> bool:
    """Whether /etc/wsl.conf (its text) turns systemd on: `systemd=true` in its [boot] section."""
    section = ""
    for raw in (text or "").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip().lower()
        elif section == "boot" and "=" in line:
            key, _, value = line.partition("=")
            if key.strip().lower() == "systemd":
                return value.strip().strip('"').lower() == "true"
    return False


class FilterModule:
    def filters(self):
        return {"wsl_kind": wsl_kind, "wsl_drive_path": wsl_drive_path, "wsl_conf_systemd": wsl_conf_systemd}
