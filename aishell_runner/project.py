"""Which project a command works on: one rule for every command that takes one."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .errors import EXIT_USAGE, AishellError


def find_project(path: str | None) -> Path:
    """`path` exactly as given (a directory); without it, the git work tree holding the current directory,
    or the current directory outside git."""
    start = Path(path or ".").resolve()
    if not start.is_dir():
        raise AishellError(f"{path} is not a directory", hint="run it inside a project, or pass --project DIR",
                           exit_code=EXIT_USAGE)
    return start if path is not None else git_toplevel(start)


def git_toplevel(start: Path) -> Path:
    """The top of the git work tree holding `start`, or `start` itself outside git."""
    run = subprocess.run(["git", "-C", str(start), "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    return Path(run.stdout.strip()) if run.returncode == 0 else start
