"""Host platforms that need more than Linux does: macOS (engines in a Lima VM) and WSL2.

`use_vm_engine` points the engine clients at the Lima VM (macOS); `check_project`
is what a launch asks: it refuses a project the engine cannot see (macOS:
outside the VM's mounts) and returns warnings (WSL2: slow /mnt/<drive>).
`findings` feeds `aishell-run check`. On plain Linux all three do nothing, and
a launch imports neither platform module (it costs about 2 ms).
"""

from __future__ import annotations

import sys
from pathlib import Path


def use_vm_engine() -> None:
    """On macOS, make DOCKER_HOST / CONTAINER_HOST the Lima VM's sockets unless the user set them."""
    if sys.platform == "darwin":
        from . import macos

        macos.export_engine_env()


def check_project(project: Path, engine: str) -> list[str]:
    """Warnings for a launch on `project` with `engine`; raises UsageError when the engine cannot see it."""
    if sys.platform == "darwin":
        from . import macos

        macos.require_mounted(project, engine)
        return []
    if not str(project).startswith("/mnt/"):  # only Windows drives (/mnt/<drive>) are slow under WSL2
        return []
    from . import wsl

    return wsl.project_warnings(project)


def findings() -> list[tuple[str, bool, str, str]]:
    """(what, ok, detail, fix) rows about this platform for `aishell-run check`."""
    if sys.platform == "darwin":
        from . import macos

        return macos.findings()
    from . import wsl

    return wsl.findings()
