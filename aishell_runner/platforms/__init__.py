"""Host platforms that need more than Linux does: macOS (engines in a Lima VM) and WSL2.

`check_project` is what a launch asks: it refuses a project the engine cannot
see (macOS: outside the VM's mounts) and returns warnings (WSL2: slow /mnt/<drive>).
`findings` feeds `aishell-run check`. On plain Linux both are empty.
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import macos, wsl


def check_project(project: Path) -> list[str]:
    """Warnings for a launch on `project`; raises UsageError when the engine cannot see it."""
    if sys.platform == "darwin":
        macos.require_mounted(project)
        return []
    return wsl.project_warnings(project)


def findings() -> list[tuple[str, bool, str, str]]:
    """(what, ok, detail, fix) rows about this platform for `aishell-run check`."""
    if sys.platform == "darwin":
        return macos.findings()
    return wsl.findings()
