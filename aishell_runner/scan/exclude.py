"""Which files and directories of the project `exclude:` hides from the sandbox.

Matched like the scan's globs; a matching directory is hidden whole (not
entered). Vendored and generated trees are not searched, as in the scan (a
vendored directory itself can be matched). The names come from the scan's
walk, remembered between launches (walk.py), and so does the answer while the
names and the patterns stay the same.
"""

from __future__ import annotations

import os
from pathlib import Path

from .. import paths
from .globs import compile_globs
from .walk import Tree, tree_cache, walk


def excluded_paths(project: Path, patterns: tuple[str, ...] | list[str]) -> list[Path]:
    """Absolute paths under `project` matched by `patterns`, shallowest first; symlinks are left alone."""
    if not patterns:
        return []
    root = os.path.abspath(project)
    tree = walk(root, tree_cache(paths.cache_dir() / "scan", root))
    key = "exclude " + "\0".join(patterns)
    found = tree.memo.get(key)
    if not (isinstance(found, list) and all(isinstance(relative, str) for relative in found)):
        found = _matched(tree, patterns)
        tree.remember(key, found)
    tree.save()
    return sorted((Path(root, relative) for relative in found), key=lambda path: (len(path.parts), str(path)))


def _matched(tree: Tree, patterns: tuple[str, ...] | list[str]) -> list[str]:
    matcher = compile_globs(patterns)
    found: list[str] = []
    pending = [""]
    while pending:
        listing = tree.listings.get(relative_dir := pending.pop())
        if listing is None or listing.vendored or listing.error:
            continue
        within = f"{relative_dir}/" if relative_dir else ""
        found += [within + name for name in (*listing.files, *(name for name, _ in listing.skipped))
                  if matcher.match(within + name)]
        for name in listing.dirs:
            (found if matcher.match(within + name) else pending).append(within + name)
    return found
