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
from .walk import single_file, walk

__all__ = ["Finding", "NameRules", "Rule", "ScanResult", "display", "read_head", "scan_tree"]


def scan_tree(root: Path | str, *, rules: NameRules | None = None, allow: Iterable[str] = (),
              content: bool = True, cache_dir: Path | None = None, progress: Progress | None = None) -> ScanResult:
    """Scan `root` (a directory or a single file). `allow` holds path globs and finding fingerprints."""
    rules = rules or NameRules()
    root = os.path.abspath(root)
    result = ScanResult(root=root)
    if os.path.isfile(root):
        file = single_file(root)
        files = [file] if file else []
        if file is None:
            result.skipped.append(Skipped(os.path.basename(root), "not a regular file, or unreadable"))
        result.root = root = os.path.dirname(root)
    else:
        files = list(walk(root, result.skipped))
    result.files = len(files)
    findings: list[Finding] = []
    for file in files:
        verdict = rules.match(file.relative, lambda file=file: read_head(file.path))
        if verdict:
            findings.append(Finding(path=file.relative, rule=verdict[0], severity=verdict[1], source="name",
                                    root=root))
    if content:
        findings += scan_content(root, files, result, cache_dir=cache_dir or paths.cache_dir() / "scan",
                                 progress=progress)
    allowed_paths = compile_globs([entry for entry in allow if not _is_fingerprint(entry)])
    fingerprints = {entry.lower() for entry in allow if _is_fingerprint(entry)}
    kept = [f for f in findings
            if f.fingerprint not in fingerprints and not (allowed_paths and allowed_paths.match(display(f.path)))]
    result.allowlisted = len(findings) - len(kept)
    result.findings = with_git_status(root, kept)
    result.sort()
    return result


def _is_fingerprint(entry: str) -> bool:
    return len(entry) == 16 and all(char in "0123456789abcdef" for char in entry.lower())


def read_head(path: str) -> bytes | None:
    """The first bytes a name rule may sniff, or None when the file cannot be read."""
    try:
        with open(path, "rb") as handle:
            return handle.read(SNIFF_BYTES)
    except OSError:
        return None
