"""WSL detection (roles/container_runtime/filter_plugins/wsl.py, shared with the CLI) against recorded hosts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aishell_runner.platforms import wsl

RULES = wsl.rules()

# /proc/version (or `uname -r`, `uname -v`) as published from real machines in
# bug reports, logs and guides; `uname -r` is the third field. Only the last
# three are not recordings: a mainline kernel without the marker (constructed),
# and two ordinary Linux hosts.
PROC_VERSION = {
    "wsl1-win10-2004": "Linux version 4.4.0-19041-Microsoft (Microsoft@Microsoft.com) (gcc version 5.4.0 (GCC) ) "
                       "#488-Microsoft Mon Sep 01 13:43:00 PST 2020",
    "wsl1-win10-1809": "Linux version 4.4.0-17763-Microsoft (Microsoft@Microsoft.com) (gcc version 5.4.0 (GCC) ) "
                       "#253-Microsoft Mon Dec 31 17:49:00 PST 2018",
    # Windows 11's WSL1, from os.uname(): release '4.4.0-22621-Microsoft', version '#1105-Microsoft ...'.
    "wsl1-win11": "Linux version 4.4.0-22621-Microsoft (Microsoft@Microsoft.com) #1105-Microsoft "
                  "Fri Jan 01 08:00:00 PST 2016",
    "wsl2-2020": "Linux version 4.19.128-microsoft-standard (oe-user@oe-host) (gcc version 8.2.0 (GCC)) "
                 "#1 SMP Tue Jun 23 12:58:10 UTC 2020",
    "wsl2-5.10": "Linux version 5.10.16.3-microsoft-standard-WSL2 (oe-user@oe-host) (x86_64-msft-linux-gcc (GCC) "
                 "9.3.0, GNU ld (GNU Binutils) 2.34.0.20200220) #1 SMP Fri Apr 2 22:23:49 UTC 2021",
    "wsl2-5.15": "Linux version 5.15.153.1-microsoft-standard-WSL2 (root@941d701f84f1) (gcc (GCC) 11.2.0, "
                 "GNU ld (GNU Binutils) 2.37) #1 SMP Fri Mar 29 23:14:13 UTC 2024",
    "wsl2-6.6": "Linux version 6.6.87.2-microsoft-standard-WSL2 (root@439a258ad544) (gcc (GCC) 11.2.0, "
                "GNU ld (GNU Binutils) 2.37) #1 SMP PREEMPT_DYNAMIC Thu Jun  5 18:30:46 UTC 2025",
    # Built by a user from Microsoft's WSL2-Linux-Kernel tree (the "+" of a dirty tree).
    "wsl2-custom-msft-tree": "Linux version 6.6.36.3-microsoft-standard-WSL2+ (root@debian-stable) (gcc (Debian "
                             "12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC "
                             "Fri Jul 19 07:04:59 UTC 2024",
    # A mainline kernel given to WSL2 through .wslconfig with its own local version: nothing says WSL.
    "wsl2-custom-mainline": "Linux version 6.8.0-custom (bob@build) (gcc (Debian 12.2.0-14) 12.2.0) "
                            "#1 SMP PREEMPT_DYNAMIC Mon Mar 11 09:00:00 UTC 2024",
    "debian12": "Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0) "
                "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)",
    "ubuntu-azure-vm": "Linux version 5.15.0-1057-azure (buildd@lcy02-amd64-050) (gcc (Ubuntu 11.4.0) 11.4.0) "
                       "#65-Ubuntu SMP Fri Feb 9 18:39:24 UTC 2024",
}


def release(host: str) -> str:
    return PROC_VERSION[host].split()[2]


@pytest.mark.parametrize("host", ["wsl1-win10-2004", "wsl1-win10-1809", "wsl1-win11"])
def test_wsl1_is_recognised_from_its_kernel_release_whatever_else_is_set(host):
    assert RULES.wsl_kind(release(host)) == "wsl1"
    assert RULES.wsl_kind(release(host), "Ubuntu", interop=True) == "wsl1"


@pytest.mark.parametrize("host", ["wsl2-2020", "wsl2-5.10", "wsl2-5.15", "wsl2-6.6", "wsl2-custom-msft-tree"])
def test_wsl2_is_recognised_from_the_release_alone_as_under_sudo(host):
    assert RULES.wsl_kind(release(host), distro_name="", interop=False) == "wsl2"


def test_custom_mainline_kernel_is_wsl2_by_the_distribution_variable():
    assert RULES.wsl_kind(release("wsl2-custom-mainline")) == ""
    assert RULES.wsl_kind(release("wsl2-custom-mainline"), distro_name="Debian") == "wsl2"


def test_custom_mainline_kernel_under_sudo_is_wsl2_by_the_interop_file():
    assert RULES.wsl_kind(release("wsl2-custom-mainline"), distro_name="", interop=True) == "wsl2"


@pytest.mark.parametrize("host", ["debian12", "ubuntu-azure-vm"])
def test_other_linux_hosts_are_not_wsl(host):
    assert RULES.wsl_kind(release(host), distro_name="", interop=False) == ""


@pytest.mark.parametrize(("text", "on"), [
    ("[boot]\nsystemd=true\n", True),
    ("[boot]\nsystemd = true  # since WSL 0.67.6\n", True),
    ("[automount]\nenabled = true\n\n[BOOT]\nsystemd=\"true\"\n", True),
    ("[boot]\nsystemd=false\n", False),
    ("[network]\nsystemd=true\n", False),  # the wrong section
    ("# [boot]\n# systemd=true\n", False),
    ("", False),
])
def test_wsl_conf_systemd_is_read_from_the_boot_section_only(text, on):
    assert RULES.wsl_conf_systemd(text) is on


@pytest.mark.parametrize(("path", "drive"), [
    ("/mnt/c/Users/alice/src/app", "c"), ("/mnt/D", "d"), ("/mnt/wsl/docker-desktop", ""),
    ("/home/alice/src/app", ""), ("/mnt/cdrom/x", ""),
])
def test_windows_drives_are_told_from_linux_paths(path, drive):
    assert RULES.wsl_drive_path(path) == drive


def _pretend(monkeypatch, kernel_release: str, distro: str | None = None, interop: bool = False):
    real_exists = os.path.exists
    monkeypatch.setattr(wsl.os, "uname", lambda: os.uname_result(("Linux", "h", kernel_release, "#1", "x86_64")))
    if distro is None:
        monkeypatch.delenv("WSL_DISTRO_NAME", raising=False)
    else:
        monkeypatch.setenv("WSL_DISTRO_NAME", distro)
    monkeypatch.setattr(wsl.os.path, "exists",
                        lambda path: interop if path in RULES.INTEROP_FILES else real_exists(path))


def test_project_on_a_windows_drive_gets_a_slowness_warning_on_wsl2(monkeypatch):
    _pretend(monkeypatch, release("wsl2-5.15"))
    [warning] = wsl.project_warnings(Path("/mnt/c/Users/alice/app"))
    assert "slower" in warning and "Linux filesystem" in warning and "/mnt/c" in warning


def test_project_in_the_linux_filesystem_gets_no_warning_on_wsl2(monkeypatch):
    _pretend(monkeypatch, release("wsl2-5.15"), distro="Ubuntu")
    assert wsl.project_warnings(Path("/home/alice/app")) == []


def test_mnt_paths_on_plain_linux_get_no_warning(monkeypatch):
    _pretend(monkeypatch, release("debian12"))
    assert wsl.project_warnings(Path("/mnt/c/app")) == []


def test_check_reports_wsl1_as_a_problem_with_its_fix(monkeypatch):
    _pretend(monkeypatch, release("wsl1-win10-2004"), distro="Ubuntu", interop=True)
    [(what, ok, detail, fix)] = wsl.findings()
    assert (what, ok) == ("WSL", False) and "WSL1" in detail and "wsl --set-version" in fix


def test_cli_detects_wsl2_from_the_interop_file_alone(monkeypatch):
    _pretend(monkeypatch, release("wsl2-custom-mainline"), distro=None, interop=True)
    assert wsl.kind() == "wsl2"


def test_a_launch_on_a_windows_drive_is_warned_through_the_platform_hook(monkeypatch):
    from aishell_runner import platforms

    _pretend(monkeypatch, release("wsl2-6.6"))
    monkeypatch.setattr(platforms.sys, "platform", "linux")
    [warning] = platforms.check_project(Path("/mnt/d/work/app"), "docker")
    assert "/mnt/d" in warning
    assert platforms.check_project(Path("/home/alice/app"), "docker") == []
