"""Sensitive-file detection: names and paths (rules.py), contents (content.py), git status (git.py).

`scan_tree` is the one entry point; `policy.py` decides what a launch does with the result.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from .. import paths
from .content import Progress, scan_content
from .findings import Finding, ScanResult, Skipped, display
from .git import with_git_status
from .globs import compile_globs
from .rules import SNIFF_BYTES, NameRules, Rule
from .walk import Tree, single_file, tree_cache, walk

__all__ = ["Finding", "NameRules", "Rule", "ScanResult", "display", "read_head", "scan_tree"]


def scan_tree(root: Path | str, *, rules: NameRules | None = None, allow: Iterable[str] = (),
              content: bool = True, cache_dir: Path | None = None, progress: Progress | None = None) -> ScanResult:
    """Scan `root` (a directory or a single file). `allow` holds path globs and finding fingerprints."""
    rules = rules or NameRules()
    root = os.path.abspath(root)
    cache_dir = cache_dir or paths.cache_dir() / "scan"
    result = ScanResult(root=root)
    tree: Tree | None = None
    if os.path.isfile(root):
        file = single_file(root)
        files, verdicts = [], {}
        if file is None:
            result.skipped.append(Skipped(os.path.basename(root), "not a regular file, or unreadable"))
        else:
            files, verdicts = [file], {file.relative: rules.match(file.relative, lambda: read_head(file.path))}
        result.root = root = os.path.dirname(root)
        result.files = len(files)
    else:
        tree = walk(root, tree_cache(cache_dir, root))
        result.skipped += tree.skipped
        result.files = tree.file_count
        verdicts = name_verdicts(tree, rules)
        tree.save()
    findings = [Finding(path=relative, rule=verdict[0], severity=verdict[1], source="name", root=root)
                for relative, verdict in verdicts.items() if verdict]
    if content:
        findings += scan_content(root, files if tree is None else tree.files, result, cache_dir=cache_dir,
                                 progress=progress)
    allowed_paths = compile_globs([entry for entry in allow if not _is_fingerprint(entry)])
    fingerprints = {entry.lower() for entry in allow if _is_fingerprint(entry)}
    kept = [f for f in findings
            if f.fingerprint not in fingerprints and not (allowed_paths and allowed_paths.match(display(f.path)))]
    result.allowlisted = len(findings) - len(kept)
    result.findings = with_git_status(root, kept)
    result.sort()
    return result


def name_verdicts(tree: Tree, rules: NameRules) -> dict[str, tuple[str, str]]:
    """(rule id, severity) by path, for the files a name rule matches.

    Remembered in the walk's memo while the names and the rules stay the same. A file whose verdict depends on
    its first bytes (a `.pem`, a `.json`) is judged again whenever its size or timestamps changed.
    """
    try:
        return _name_verdicts(tree, rules, tree.memo.get("names"))
    except (TypeError, KeyError, IndexError, ValueError, AttributeError):  # a damaged memo: judged anew
        return _name_verdicts(tree, rules, None)


def _name_verdicts(tree: Tree, rules: NameRules, memo) -> dict[str, tuple[str, str]]:
    changed = not memo or memo["rules"] != rules.fingerprint
    if changed:
        memo = {"rules": rules.fingerprint, "by_name": {}, "sniffed": {}}
        for file in tree.files:
            if rules.sniffs(file.relative):
                memo["sniffed"][file.relative] = None
            elif verdict := rules.match(file.relative, lambda: None):  # the bytes are read only for a sniffed name
                memo["by_name"][file.relative] = list(verdict)
    verdicts = {relative: tuple(verdict) for relative, verdict in memo["by_name"].items()}
    for relative, known in memo["sniffed"].items():  # each None (judge anew) or [stat key, verdict]
        path = os.path.join(tree.root, relative)
        key = _stat_key(path)
        if known is not None and key is not None and known[0] == key:
            verdict = known[1]
        else:
            verdict = rules.match(relative, lambda path=path: read_head(path))
            trusted = key is not None and not tree.racy(int(key.rpartition(":")[2]))
            memo["sniffed"][relative] = [key, list(verdict) if verdict else None] if trusted else None
            changed |= memo["sniffed"][relative] != known
        if verdict:
            verdicts[relative] = tuple(verdict)
    if changed:
        tree.remember("names", memo)
    return verdicts


def _stat_key(path: str) -> str | None:
    """What says a file's first bytes are the ones judged before: its size, mtime and ctime."""
    try:
        stat = os.lstat(path)
    except OSError:
        return None
    return f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}"


def _is_fingerprint(entry: str) -> bool:
    return len(entry) == 16 and all(char in "0123456789abcdef" for char in entry.lower())


def read_head(path: str) -> bytes | None:
    """The first bytes a name rule may sniff, or None when the file cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read(SNIFF_BYTES)
    except OSError:
        return None
