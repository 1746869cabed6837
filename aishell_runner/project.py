"""Which project a command works on: one rule for every command that takes one."""

from __future__ import annotations

import os
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


# Variables that point git at a repository other than the one it would find from the directory.
GIT_LOCATION_VARIABLES = frozenset(("GIT_DIR", "GIT_WORK_TREE", "GIT_COMMON_DIR"))


def git_toplevel(start: Path) -> Path:
    """The top of the git work tree holding `start`, or `start` itself outside git."""
    if not GIT_LOCATION_VARIABLES & os.environ.keys() and (os.path.lexists(start / ".git") or no_git_above(start)):
        # git looks for `.git` in `start` first, then in each directory above: it would answer `start` either way
        # (a repository's own top; or no repository), and a launch is spared the process.
        return start
    run = subprocess.run(["git", "-C", str(start), "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    return Path(run.stdout.strip()) if run.returncode == 0 else start


def no_git_above(start: Path) -> bool:
    """Whether there is no `.git` in `start` or in any directory above it: then git, unless a variable
    (GIT_LOCATION_VARIABLES) points it elsewhere, finds no repository there."""
    return not any(os.path.lexists(directory / ".git") for directory in (start, *start.parents))
