"""Sensitive-file detection: names and paths (rules.py), contents (content.py), git status (git.py).

`scan_tree` is the one entry point; `policy.py` decides what a launch does with the result. On a large tree a
watcher's journal of changes (watch.py) spares it the stat of every file: the last result is reused whole while
nothing changed (memo.py), else only what changed is looked at again; without a journal that vouches for the
caches, the scan stats everything, as on any other tree.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from .. import paths
from . import memo as remembered
from . import watch as watching
from .content import Progress, scan_content
from .findings import Finding, ScanResult, Skipped, display
from .git import with_git_status
from .globs import compile_globs
from .rules import SNIFF_BYTES, NameRules, Rule
from .walk import Tree, key_ctime, single_file, stat_key, tree_cache, walk

__all__ = ["Finding", "NameRules", "Rule", "ScanResult", "display", "read_head", "scan_tree"]


def scan_tree(root: Path | str, *, rules: NameRules | None = None, allow: Iterable[str] = (),
              content: bool = True, cache_dir: Path | None = None, progress: Progress | None = None,
              watch: bool = True) -> ScanResult:
    """Scan `root` (a directory or a single file). `allow` holds path globs and finding fingerprints.

    `watch=False` never asks a watcher (every file is stat-ed): the full path, for comparison."""
    rules = rules or NameRules()
    root = os.path.abspath(root)
    cache_dir = cache_dir or paths.cache_dir() / "scan"
    result = ScanResult(root=root)
    if os.path.isfile(root):
        file = single_file(root)
        files, verdicts = [], {}
        if file is None:
            result.skipped.append(Skipped(os.path.basename(root), "not a regular file, or unreadable"))
        else:
            files, verdicts = [file], {file.relative: rules.match(file.relative, lambda: read_head(file.path))}
        result.root = root = os.path.dirname(root)
        result.files = len(files)
        findings = [Finding(path=relative, rule=verdict[0], severity=verdict[1], source="name", root=root)
                    for relative, verdict in verdicts.items() if verdict]
        if content:
            findings += scan_content(root, files, result, cache_dir=cache_dir, progress=progress)
    else:
        findings = _scan_directory(root, rules, content, cache_dir, progress, result, watch)
    allowed_paths = compile_globs([entry for entry in allow if not _is_fingerprint(entry)])
    fingerprints = {entry.lower() for entry in allow if _is_fingerprint(entry)}
    kept = [f for f in findings
            if f.fingerprint not in fingerprints and not (allowed_paths and allowed_paths.match(display(f.path)))]
    result.allowlisted = len(findings) - len(kept)
    result.findings = with_git_status(root, kept, cache_dir)
    result.sort()
    return result


def _scan_directory(root: str, rules: NameRules, content: bool, cache_dir: Path, progress: Progress | None,
                    result: ScanResult, watch: bool) -> list[Finding]:
    """The findings under a directory, before `allow:`; `result` gets the rest."""
    memo_file = remembered.memo_path(cache_dir, root, content)
    memo = remembered.load(memo_file, root, rules.fingerprint, content)
    gitleaks = content and shutil.which("gitleaks") is not None  # no cache of its own: nothing to remember
    answer = watching.sync(root, cache_dir, memo and memo.get("watch")) if watch else "not asked"
    journal = answer if isinstance(answer, watching.Journal) else None
    if journal and memo and not gitleaks:
        changed, moved_links = journal.since(memo.get("watch")), remembered.changed_links(memo)
        known = remembered.results(memo, root) if changed == set() and moved_links == set() else None
        if known is not None:  # nothing changed since that scan: its result stands
            findings, skipped, result.files, result.binary_files, result.content_scanner = known
            result.skipped += skipped
            return findings
        journal.extra |= moved_links or set()
    tree = walk(root, tree_cache(cache_dir, root), journal)
    result.skipped += tree.skipped
    result.files = tree.file_count
    linked: dict[str, str] = {}
    verdicts = name_verdicts(tree, rules, linked)
    tree.save()
    findings = [Finding(path=relative, rule=verdict[0], severity=verdict[1], source="name", root=root)
                for relative, verdict in verdicts.items() if verdict]
    if content:
        findings += scan_content(root, tree.files, result, cache_dir=cache_dir, progress=progress, journal=journal,
                                 linked=linked)
    if journal and not gitleaks:
        links = [f"{relative}/{name}" if relative else name for relative, listing in tree.listings.items()
                 if not (listing.vendored or listing.error) for name in listing.links]
        remembered.save(memo_file, root=root, token=[*journal.token, journal.full_at], rules=rules.fingerprint,
                        content=content, findings=findings, skipped=result.skipped, links=links, files=result.files,
                        binary=result.binary_files, scanner=result.content_scanner, linked=linked)
    if answer == "absent" and result.files >= watching.WATCH_FROM:
        watching.start(root, cache_dir)  # its journal serves the scans after the next one (which pairs it)
    return findings


def name_verdicts(tree: Tree, rules: NameRules, linked: dict[str, str] | None = None) -> dict[str, tuple[str, str]]:
    """(rule id, severity) by path, for the files a name rule matches.

    Remembered in the walk's memo while the names and the rules stay the same. A file whose verdict depends on
    its first bytes (a `.pem`, a `.json`) is judged again whenever its size, timestamps or links changed; with a
    journal, only when it names the file or the file has more than one link (`linked` gets those).
    """
    linked = {} if linked is None else linked
    try:
        return _name_verdicts(tree, rules, tree.memo.get("names"), linked)
    except (TypeError, KeyError, IndexError, ValueError, AttributeError):  # a damaged memo: judged anew
        linked.clear()
        return _name_verdicts(tree, rules, None, linked)


def _name_verdicts(tree: Tree, rules: NameRules, memo, linked: dict[str, str]) -> dict[str, tuple[str, str]]:
    changed = not memo or memo["rules"] != rules.fingerprint
    if changed:
        memo = {"rules": rules.fingerprint, "by_name": {}, "sniffed": {}}
        for file in tree.files:
            if rules.sniffs(file.relative):
                memo["sniffed"][file.relative] = None
            elif verdict := rules.match(file.relative, lambda: None):  # the bytes are read only for a sniffed name
                memo["by_name"][file.relative] = list(verdict)
    verdicts = {relative: tuple(verdict) for relative, verdict in memo["by_name"].items()}
    journal = tree.changed
    for relative, known in memo["sniffed"].items():  # each None (judge anew) or [stat key, verdict]
        if known is not None and journal is not None and relative not in journal and known[0].endswith(":1"):
            verdict = known[1]  # no event named it, and it has one link only
        else:
            path = os.path.join(tree.root, relative)
            key = stat_key(path)
            if key is not None and not key.endswith(":1"):
                linked[relative] = key
            if known is not None and key is not None and known[0] == key:
                verdict = known[1]
            else:
                verdict = rules.match(relative, lambda path=path: read_head(path))
                trusted = key is not None and not tree.racy(key_ctime(key))
                memo["sniffed"][relative] = [key, list(verdict) if verdict else None] if trusted else None
                changed |= memo["sniffed"][relative] != known
        if verdict:
            verdicts[relative] = tuple(verdict)
    if changed:
        tree.remember("names", memo)
    return verdicts


def _is_fingerprint(entry: str) -> bool:
    return len(entry) == 16 and all(char in "0123456789abcdef" for char in entry.lower())


def read_head(path: str) -> bytes | None:
    """The first bytes a name rule may sniff, or None when the file cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read(SNIFF_BYTES)
    except OSError:
        return None
