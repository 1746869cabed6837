"""WSL detection for the CLI, with the container_runtime role's own rules.

The rules live in roles/container_runtime/filter_plugins/wsl.py and are loaded
from there, so a bootstrap and a launch cannot disagree about what WSL is.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

from ..paths import role_plugin


def rules() -> ModuleType:
    return role_plugin("container_runtime", "wsl.py")


def kind() -> str:
    """'wsl1', 'wsl2' or '' for this machine."""
    interop = any(os.path.exists(path) for path in rules().INTEROP_FILES)
    return rules().wsl_kind(os.uname().release, os.environ.get("WSL_DISTRO_NAME", ""), interop)


def project_warnings(project: Path) -> list[str]:
    if kind() != "wsl2":
        return []
    drive = rules().wsl_drive_path(str(project))
    if not drive:
        return []
    return [f"{project} is on the Windows drive {drive.upper()}: (through /mnt/{drive}), where every file access "
            f"crosses from Linux to Windows and is many times slower. Keep projects in the Linux filesystem, "
            f"e.g. `cp -r {project} ~/src/` and work there."]


def findings() -> list[tuple[str, bool, str, str]]:
    found = kind()
    if found == "wsl1":
        return [("WSL", False, f"WSL1 (kernel {os.uname().release}) cannot run containers",
                 "from Windows: wsl --set-version <distribution> 2")]
    if found == "wsl2":
        try:
            conf = Path("/etc/wsl.conf").read_text(errors="replace")
        except OSError:
            conf = ""
        systemd = rules().wsl_conf_systemd(conf)
        return [("WSL", True, f"WSL2, systemd {'on' if systemd else 'off'} in /etc/wsl.conf", "")]
    return []
