"""The files under a root, without following symlinks or entering vendored trees.

Symlinks are never followed (a link out of the project is reported, and a link
inside it is scanned where it points). Directories the scan cannot read are
reported and the walk goes on.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from dataclasses import dataclass

from .findings import Skipped, display

# Vendored, generated and cache trees: not the user's files, and often huge.
SKIPPED_DIRS = frozenset({
    ".git", ".hg", ".svn", "node_modules", "bower_components", "vendor", "__pycache__", ".venv", "venv",
    ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".gradle", ".next", ".nuxt", ".terraform",
    "build", "dist", "target",
})
VENDORED = "vendored or generated tree"


@dataclass(frozen=True)
class File:
    relative: str  # "/"-separated, relative to the root
    path: str  # absolute
    entry: os.DirEntry


def walk(root: str, skipped: list[Skipped]) -> Iterator[File]:
    """Regular files under `root`; what is left out is appended to `skipped`."""
    real_root = os.path.realpath(root)
    pending = [("", root)]
    while pending:
        relative_dir, directory = pending.pop()
        try:
            with os.scandir(directory) as entries:
                listing = list(entries)
        except OSError as error:
            skipped.append(Skipped(relative_dir or ".", f"unreadable directory ({error.strerror})"))
            continue
        for entry in listing:
            relative = f"{relative_dir}/{entry.name}" if relative_dir else entry.name
            try:
                if entry.is_symlink():
                    reason = _symlink_problem(entry.path, real_root)
                    if reason:
                        skipped.append(Skipped(relative, reason))
                elif entry.is_dir(follow_symlinks=False):
                    if entry.name in SKIPPED_DIRS or os.path.exists(os.path.join(entry.path, "pyvenv.cfg")):
                        skipped.append(Skipped(relative, VENDORED))
                    else:
                        pending.append((relative, entry.path))
                elif entry.is_file(follow_symlinks=False):
                    yield File(relative, entry.path, entry)
                else:
                    skipped.append(Skipped(relative, "not a regular file"))
            except OSError as error:
                skipped.append(Skipped(relative, f"unreadable ({error.strerror})"))


def single_file(path: str) -> File | None:
    """A root that is one file (a mounted file rather than a directory)."""
    parent, name = os.path.split(path)
    try:
        with os.scandir(parent) as entries:
            entry = next((entry for entry in entries if entry.name == name), None)
    except OSError:  # a directory one may enter but not list (mode 711): the file is there, its entry is not
        return None
    return File(name, path, entry) if entry and entry.is_file(follow_symlinks=False) else None


def _symlink_problem(path: str, real_root: str) -> str | None:
    """Why a symlink deserves a mention, or None for a link to a file inside the root (scanned there)."""
    try:
        target = os.path.realpath(path, strict=True)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return "symlink loop (not followed)"
        return "broken symlink"
    if target != real_root and not target.startswith(real_root + os.sep):
        return f"symlink to {display(target)}, outside the scanned tree (not followed)"
    return None
