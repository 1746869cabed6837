"""Which files and directories of the project `exclude:` hides from the sandbox.

Matched like the scan's globs; a matching directory is hidden whole (not
entered). Vendored and generated trees are not searched, as in the scan (a
vendored directory itself can be matched). The names come from the scan's
walk, remembered between launches (walk.py), and so does the answer while the
names and the patterns stay the same; on a large tree whose watcher (watch.py)
says nothing changed since, the answer is reused without a walk.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from .. import paths
from ..cache_files import save_json
from . import watch as watching
from .globs import compile_globs
from .walk import Tree, tree_cache, walk


def excluded_paths(project: Path, patterns: tuple[str, ...] | list[str], *, watch: bool = True) -> list[Path]:
    """Absolute paths under `project` matched by `patterns`, shallowest first; symlinks are left alone.
    (`watch=False`: no watcher is asked, as in scan_tree.)"""
    if not patterns:
        return []
    root = os.path.abspath(project)
    cache_dir = paths.cache_dir() / "scan"
    memo_file = tree_cache(cache_dir, root).with_name(tree_cache(cache_dir, root).name.replace(".tree", ".exclude"))
    known = _load(memo_file, root, patterns)
    answer = watching.sync(root, cache_dir, known and known.get("watch")) if watch else "not asked"
    journal = answer if isinstance(answer, watching.Journal) else None
    if journal and known and journal.since(known.get("watch")) == set():
        found = known["found"]  # nothing changed since
    else:
        tree = walk(root, tree_cache(cache_dir, root), journal)
        key = "exclude " + "\0".join(patterns)
        found = tree.memo.get(key)
        if not (isinstance(found, list) and all(isinstance(relative, str) for relative in found)):
            found = _matched(tree, patterns)
            tree.remember(key, found)
        tree.save()
        if journal:
            _save(memo_file, {"root": root, "patterns": list(patterns), "watch": [*journal.token, tree.watch[2]],
                                    "found": found})
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


def _load(path: Path, root: str, patterns: tuple[str, ...] | list[str]) -> dict | None:
    with contextlib.suppress(OSError, ValueError):
        known = json.loads(path.read_bytes())
        if isinstance(known, dict) and known.get("root") == root and known.get("patterns") == list(patterns) \
                and isinstance(found := known.get("found"), list) and all(isinstance(r, str) for r in found):
            return known
    return None


def _save(path: Path, data: dict) -> None:
    save_json(path, data)
