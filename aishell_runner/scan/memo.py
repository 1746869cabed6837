"""The last scan of a root, reused whole while the journal (watch.py) says that nothing in the tree changed.

A small file beside the walk's and the content scan's caches: the findings
before `allow:` and git's status, what was skipped, the symlinks (judged again
at every scan: their targets may change anywhere), the file counts, and the stat
key of every file with more than one link (stat-ed at every scan: a write through
a link outside the tree sends no event). It is saved under the token of the
sync made before that scan, so reusing it needs an answer "nothing changed
since" from the same watcher, and costs no walk, no stat of a directory and no
parse of the large caches.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from ..cache_files import save_json
from .findings import Finding, Skipped
from .walk import stat_key, symlink_problem, tree_cache

VERSION = 1


def memo_path(cache_dir: Path, root: str, content: bool) -> Path:
    tree = tree_cache(cache_dir, root)
    return tree.with_name(tree.name.replace(".tree.json", ".content.json" if content else ".names.json"))


def load(path: Path, root: str, rules: str, content: bool) -> dict | None:
    """The memo when it is of this root, these rules and this kind of scan; else None (damaged too)."""
    with contextlib.suppress(OSError, ValueError):
        memo = json.loads(path.read_bytes())
        if isinstance(memo, dict) and memo.get("version") == VERSION and memo.get("root") == root \
                and memo.get("rules") == rules and memo.get("content") == content:
            return memo
    return None


def changed_links(memo: dict) -> set[str] | None:
    """The files with more than one link whose stat key changed; None when the memo is damaged."""
    try:
        return {relative for relative, key in memo["linked"].items()
                if stat_key(os.path.join(memo["root"], relative)) != key}
    except (KeyError, TypeError, AttributeError):
        return None


def results(memo: dict, root: str) -> tuple[list[Finding], list[Skipped], int, int, str | None] | None:
    """(findings, skipped, files, binary files, content scanner) as remembered, the symlinks judged anew; None
    when the memo is damaged."""
    try:
        findings = [Finding(path=str(path), severity=str(severity), rule=str(rule), source=str(source),
                            line=None if line is None else int(line), preview=None if preview is None else str(preview),
                            secret_hash=None if secret is None else str(secret), root=root)
                    for path, severity, rule, source, line, preview, secret in memo["findings"]]
        skipped = [Skipped(str(path), str(reason)) for path, reason in memo["skipped"]]
        real_root = os.path.realpath(root)
        for relative in memo["links"]:
            if reason := symlink_problem(os.path.join(root, relative), real_root):
                skipped.append(Skipped(str(relative), reason))
        scanner = memo["scanner"]
        return findings, skipped, int(memo["files"]), int(memo["binary"]), None if scanner is None else str(scanner)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def save(path: Path, *, root: str, token: list, rules: str, content: bool, findings: list[Finding],
         skipped: list[Skipped], links: list[str], files: int, binary: int, scanner: str | None,
         linked: dict[str, str]) -> None:
    links_set = set(links)
    memo = {"version": VERSION, "root": root, "watch": token, "rules": rules, "content": content,
            "findings": [[f.path, f.severity, f.rule, f.source, f.line, f.preview, f.secret_hash] for f in findings],
            "skipped": [[s.path, s.reason] for s in skipped if s.path not in links_set],
            "links": links, "files": files, "binary": binary, "scanner": scanner, "linked": linked}
    save_json(path, memo)
