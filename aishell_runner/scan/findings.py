"""What a scan reports: findings, the things it skipped, and their JSON form."""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from .rules import RANK


def display(relative: str) -> str:
    """A path as printable text: names that are not valid UTF-8 keep their bytes as \\x escapes."""
    return relative.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class Finding(NamedTuple):
    """One sensitive file, or one secret in a file's content."""

    path: str  # relative to the scanned root; may hold surrogate escapes (see display)
    severity: str
    rule: str
    source: str  # "name" or the content scanner's name
    line: int | None = None
    preview: str | None = None  # at most the secret's first 4 characters
    secret_hash: str | None = None  # the scanner's hash of the secret, never the secret
    tracked: bool | None = None
    ignored: bool | None = None
    root: str = ""

    @property
    def fingerprint(self) -> str:
        """Stable across line moves and re-scans: allowlist a finding by it."""
        key = "\0".join((self.rule, display(self.path), self.secret_hash or ""))
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, object]:
        return {
            "path": display(self.path), "severity": self.severity, "rule": self.rule, "line": self.line,
            "tracked": self.tracked, "ignored": self.ignored, "source": self.source,
            "preview": self.preview, "fingerprint": self.fingerprint,
        }


class Skipped(NamedTuple):
    """A path the scan could not read, and why."""

    path: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"path": display(self.path), "reason": self.reason}


class ScanResult:
    """What one scan of a root found (filled in as the scan goes)."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.findings: list[Finding] = []
        self.skipped: list[Skipped] = []
        self.files = 0
        self.binary_files = 0
        self.allowlisted = 0
        self.content_scanner: str | None = None

    def sort(self) -> None:
        self.findings.sort(key=lambda f: (RANK[f.severity], display(f.path), f.line or 0, f.rule))
        self.skipped.sort(key=lambda s: display(s.path))

    def at(self, severity: str) -> list[Finding]:
        return [finding for finding in self.findings if finding.severity == severity]

    def to_json(self) -> dict[str, object]:
        return {
            "root": self.root,
            "findings": [finding.to_json() for finding in self.findings],
            "skipped": [skipped.to_json() for skipped in self.skipped],
            "files": self.files,
            "binary_files": self.binary_files,
            "allowlisted": self.allowlisted,
            "content_scanner": self.content_scanner,
        }
