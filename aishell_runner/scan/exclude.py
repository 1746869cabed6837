"""Which files and directories of the project `exclude:` hides from the sandbox.

Matched like the scan's globs; a matching directory is hidden whole (not
entered). Vendored and generated trees are not searched, as in the scan.
"""

from __future__ import annotations

import os
from pathlib import Path

from .globs import compile_globs
from .walk import SKIPPED_DIRS


def excluded_paths(project: Path, patterns: tuple[str, ...] | list[str]) -> list[Path]:
    """Absolute paths under `project` matched by `patterns`, shallowest first; symlinks are left alone."""
    matcher = compile_globs(patterns)
    if matcher is None:
        return []
    found: list[Path] = []
    pending = [("", str(project))]
    while pending:
        relative_dir, directory = pending.pop()
        try:
            with os.scandir(directory) as entries:
                listing = list(entries)
        except OSError:
            continue  # the scan reports unreadable directories; nothing to hide in one
        for entry in listing:
            relative = f"{relative_dir}/{entry.name}" if relative_dir else entry.name
            if entry.is_symlink():
                continue
            if matcher.match(relative):
                found.append(Path(entry.path))
            elif entry.is_dir(follow_symlinks=False) and entry.name not in SKIPPED_DIRS:
                pending.append((relative, entry.path))
    return sorted(found, key=lambda path: (len(path.parts), str(path)))
