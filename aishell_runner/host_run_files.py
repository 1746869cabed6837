"""Files of a project that tools on the host run or obey by themselves, watched across a session.

The agent may edit them (it is the user's project), but what it wrote there
would run on the host later: direnv loads `.envrc` on `cd`, an editor runs
`.vscode/tasks.json`, git runs `.husky/` or pre-commit hooks, a dev container
runs its `postCreateCommand`, and the next `aishell-run` obeys `.aishell/`.
So the session's end names each one it changed, and the audit log records it.
Git's own hooks and configuration cannot be changed from inside at all
(git_protection.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

# Project-relative files, and directories whose every file counts. The one list of them.
WATCHED = (
    ".envrc", ".env.local",                      # direnv, and the env files it loads
    ".vscode/", ".idea/", ".devcontainer/",      # editors' tasks, launch and settings; dev containers
    ".husky/", ".githooks/", ".pre-commit-config.yaml", "lefthook.yml", ".lefthook.yml",  # git hook managers
    ".gitmodules",                               # submodule URLs that `git submodule update` fetches and runs
    ".tool-versions", ".mise.toml", "mise.toml",  # version managers that run hooks on `cd`
    ".aishell/",                                 # the next sandbox's own settings, mounts and pre_start
)
MAX_FILES = 2000  # per directory: an editor's cache is not worth hashing at every launch


def snapshot(project: Path) -> dict[str, str]:
    """Project-relative path -> content hash, for every watched file that exists."""
    found: dict[str, str] = {}
    for entry in WATCHED:
        path = project / entry
        if entry.endswith("/"):
            files = sorted(p for p in path.rglob("*") if p.is_file() and not p.is_symlink())[:MAX_FILES] \
                if path.is_dir() and not path.is_symlink() else []
        else:
            files = [path] if path.is_file() else []
        for file in files:
            try:
                found[str(file.relative_to(project))] = hashlib.sha256(file.read_bytes()).hexdigest()
            except OSError:
                found[str(file.relative_to(project))] = "unreadable"
    return found


def changes(before: dict[str, str], after: dict[str, str]) -> dict[str, str]:
    """Path -> "added", "changed" or "removed", in path order."""
    result = {}
    for path in sorted(before.keys() | after.keys()):
        if path not in before:
            result[path] = "added"
        elif path not in after:
            result[path] = "removed"
        elif before[path] != after[path]:
            result[path] = "changed"
    return result
