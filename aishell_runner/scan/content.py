"""Secrets inside files: gitleaks when it is on PATH, otherwise detect-secrets.

detect-secrets is slow (pure Python, every plugin on every line), so it reads
only the files its plugins' own expressions find something in (prefilter.py), and its
results are cached per file, keyed by size, modification time and ctime and,
when those changed, by the hash of the content: a warm re-scan of an unchanged
tree reads no file. The ctime is in the key because no program can set it: a
sandboxed agent that writes a secret into a file and puts its size and mtime
back still changes its ctime, so the next launch reads the file again. A file
changed in the moment it was scanned is read again at the next scan ("racy",
as in walk.py). The cache holds rule ids, line numbers and the scanner's hash
of each secret, never a secret.

With a journal of changes (watch.py) that vouches for the cache, only the files
it names are stat-ed, and those with more than one link (a write through
another link names only that one); every other file keeps its cached result.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from ..cache_files import save_json
from . import walk
from .findings import Finding, ScanResult, Skipped
from .walk import File

if TYPE_CHECKING:
    from .watch import Journal

MAX_BYTES = 2 * 1024 * 1024
CACHE_VERSION = 1
# Worth starting worker processes for (measured: from 1,000 files on, even with the prefilter's 0.1 ms a file).
PARALLEL_FROM = 400
# detect-secrets' guesses from entropy and keywords often hit hashes and test data: warnings, not refusals.
GUESSES = {"Base64 High Entropy String", "Hex High Entropy String", "Secret Keyword", "JSON Web Token",
           "Basic Auth Credentials"}
NOT_SECRETS = {"Public IP (ipv4)"}
# One cached result: (secret type, line, first characters, secret hash).
Hit = tuple[str, int, str, str]
Progress = Callable[[int, int], None]


def scan_content(root: str, files: Iterable[File], result: ScanResult, *, cache_dir: Path,
                 progress: Progress | None = None, journal: Journal | None = None,
                 linked: dict[str, str] | None = None) -> list[Finding]:
    """The content findings; `linked` gets the stat key of each file with more than one link."""
    if shutil.which("gitleaks"):
        result.content_scanner = "gitleaks"
        return _gitleaks(root, {file.relative for file in files})
    result.content_scanner = "detect-secrets"
    return _detect_secrets(root, list(files), result, cache_dir, progress, journal,
                           {} if linked is None else linked)


def rule_id(secret_type: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", secret_type.lower()).strip("-")


# ------------------------------------------------------------------------------------------ detect-secrets


def _detect_secrets(root: str, files: list[File], result: ScanResult, cache_dir: Path,
                    progress: Progress | None, journal: Journal | None, linked: dict[str, str]) -> list[Finding]:
    cache = _Cache(cache_dir / (hashlib.sha256(root.encode("utf-8", "surrogateescape")).hexdigest()[:24] + ".json"))
    changed = journal.since(cache.watch) if journal else None
    cache.watch = journal.saved(cache.watch, changed is not None) if journal else None
    cache.changed |= journal is not None and changed is None  # saved under the journal's token: vouched for
    hits: dict[str, list[Hit]] = {}
    unknown: list[tuple[File, str]] = []  # files to read, with their key
    for file in files:
        if changed is not None and file.relative not in changed and file.relative not in cache.linked:
            entry = cache.files.get(file.relative)
            if entry is not None:  # no event named it since the cache was saved
                cache.kept[file.relative] = entry
                _collect(cache, entry.rpartition(":")[2], file.relative, hits, result)
                continue
        try:
            stat = os.lstat(file.path)
        except OSError as error:  # listed but not searchable (a directory with r but not x), or gone since
            result.skipped.append(Skipped(file.relative, f"unreadable ({error.strerror})"))
            continue
        if stat.st_nlink > 1:
            linked[file.relative] = f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}:{stat.st_nlink}"
        if stat.st_size > MAX_BYTES:
            result.skipped.append(Skipped(file.relative, "larger than 2 MiB (content not scanned)"))
            continue
        key = f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}:"
        digest = cache.digest_for(file.relative, key, stat.st_ctime_ns)
        if digest is None:
            unknown.append((file, key))
        else:
            _collect(cache, digest, file.relative, hits, result)
    to_scan: dict[str, list[File]] = {}  # new contents, each with the files that hold it

    def new_contents() -> Iterator[tuple[str, str]]:
        """(digest, path) of each content not scanned before: read while the workers scan the ones before."""
        for file, key in unknown:
            try:
                with open(file.path, "rb") as handle:
                    data = handle.read(MAX_BYTES + 1)
            except OSError as error:
                result.skipped.append(Skipped(file.relative, f"unreadable ({error.strerror})"))
                continue
            digest = hashlib.sha256(data).hexdigest()[:32]
            cache.keep(file.relative, key, digest)
            if b"\0" in data[:8192]:
                cache.results[digest] = None
            if cache.known(digest):
                _collect(cache, digest, file.relative, hits, result)
            elif digest in to_scan:
                to_scan[digest].append(file)
            else:
                to_scan[digest] = [file]
                yield digest, file.path

    if unknown:
        # Reading files may take minutes (a first scan of a large tree), here and in workers forked from here: the
        # cycle collector is back on (cli.entry turns it off for a command's short start).
        gc.enable()
    for digest, found in _run_detect_secrets(new_contents(), len(unknown) >= PARALLEL_FROM, progress):
        cache.record(digest, found)
        for file in to_scan[digest]:
            _collect(cache, digest, file.relative, hits, result)
    cache.changed |= set(linked) != cache.linked
    cache.linked = set(linked)
    cache.save()
    return [
        Finding(path=relative, severity="medium" if kind in GUESSES else "high", rule=rule_id(kind),
                source="detect-secrets", line=line, preview=preview, secret_hash=secret_hash, root=root)
        for relative, found in hits.items() for kind, line, preview, secret_hash in found
    ]


def _collect(cache: _Cache, digest: str, relative: str, hits: dict[str, list[Hit]], result: ScanResult) -> None:
    found = cache.results.get(digest, [])
    if found is None:
        result.binary_files += 1
    elif found:
        hits[relative] = found


def _run_detect_secrets(contents: Iterator[tuple[str, str]], parallel: bool,
                        progress: Progress | None) -> Iterable[tuple[str, list[Hit]]]:
    """(digest, hits) for each (digest, path) of `contents`; `parallel`: in worker processes, which start on the
    first chunk while the rest are still read."""
    handed_over = 0

    def chunked() -> Iterator[list[tuple[str, str]]]:
        nonlocal handed_over
        while chunk := list(islice(contents, 100)):
            handed_over += len(chunk)
            yield chunk

    pool = None
    try:
        if parallel:
            from concurrent.futures import ProcessPoolExecutor  # here: a warm scan does not pay for importing it

            pool = ProcessPoolExecutor(max_workers=os.cpu_count() or 1)
            results = pool.map(_scan_files, chunked())  # returns once every chunk is read and handed over
        else:
            results = map(_scan_files, list(chunked()))
        total, done = handed_over, 0
        for chunk_result in results:
            yield from chunk_result
            done += len(chunk_result)
            if progress:
                progress(done, total)  # per chunk of 100: a log gets a line per 100 files, not per file
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)


def _scan_files(items: list[tuple[str, str]]) -> list[tuple[str, list[Hit]]]:
    from detect_secrets.core.scan import scan_file  # slow to import: only when a file must be read
    from detect_secrets.settings import default_settings, get_plugins

    from .prefilter import for_plugins

    out = []
    with default_settings():
        could_report = for_plugins(get_plugins(), ignored=NOT_SECRETS)
        for digest, path in items:
            found = [(secret.type, secret.line_number, (secret.secret_value or "")[:4], secret.secret_hash)
                     for secret in scan_file(path) if secret.type not in NOT_SECRETS] if could_report(path) else []
            out.append((digest, found))
    return out


class _Cache:
    """Per-root results: {relative path: "size:mtime:digest"} and {digest: hits, or None for a binary file}.

    Saved only when something changed: a warm scan writes nothing.
    """

    def __init__(self, path: Path):
        self.path = path
        self.files, self.results, self.last_started, self.watch, self.linked = _read_cache(path)
        self.settled_before = self.last_started - walk.RACY_NS  # a ctime before it was not racy (walk.racy)
        self.started = time.time_ns()
        self.kept: dict[str, str] = {}
        self.changed = False
        self._clean: set[str] | None = None

    def digest_for(self, relative: str, key: str, ctime: int) -> str | None:
        """The digest remembered for the file while its key ("size:mtime:ctime:") is the one remembered, and
        was not racy then. (Called for every file of a tree at every launch: kept to a lookup and a compare.)"""
        entry = self.files.get(relative)
        if entry is not None and entry.startswith(key) and ctime < self.settled_before:
            self.kept[relative] = entry
            return entry[len(key):]
        return None

    def keep(self, relative: str, key: str, digest: str) -> None:
        self.kept[relative] = key + digest
        self.changed = True

    def known(self, digest: str) -> bool:
        """Scanned before, under any name (a file copied or touched without changes is not re-scanned)."""
        if self._clean is None:
            self._clean = {entry.rpartition(":")[2] for entry in self.files.values()}
        return digest in self.results or digest in self._clean

    def record(self, digest: str, found: list[Hit]) -> None:
        if found:
            self.results[digest] = found

    def save(self) -> None:
        """Only this scan's files are kept, so the cache never outgrows the tree."""
        if not self.changed and len(self.kept) == len(self.files):
            return
        live = {entry.rpartition(":")[2] for entry in self.kept.values()}
        data = {"version": CACHE_VERSION, "started": self.started, "files": self.kept,
                "results": {d: r for d, r in self.results.items() if d in live}, "watch": self.watch,
                "linked": sorted(self.linked)}
        save_json(self.path, data)


def _read_cache(path: Path) -> tuple[dict[str, str], dict[str, list[Hit] | None], int, list | None, set[str]]:
    """The saved files and results, when their scan began, the journal's token they were saved under and the
    files with more than one link; none when the cache is missing, of another version or damaged.

    Every part is checked here, all at once: a damaged cache costs a cold scan, never a crash later on.
    """
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError, AttributeError):
        data = json.loads(path.read_bytes())
        files = data["files"]
        # JSON's keys are text; the entries are checked by their types alone (in C: a tree's every file).
        if data["version"] == CACHE_VERSION and type(files) is dict and set(map(type, files.values())) <= {str}:
            results = {str(digest): None if found is None else [_hit(*hit) for hit in found]
                       for digest, found in data["results"].items()}
            token, linked = data.get("watch"), data.get("linked", [])
            if not (isinstance(linked, list) and set(map(type, linked)) <= {str}):
                token, linked = None, []
            return files, results, int(data.get("started", 0)), token if isinstance(token, list) else None, \
                set(linked)
    return {}, {}, 0, None, set()


def _hit(kind: str, line: int, preview: str, secret_hash: str) -> Hit:
    return str(kind), int(line), str(preview), str(secret_hash)


# ------------------------------------------------------------------------------------------------ gitleaks


def _gitleaks(root: str, scanned: set[str]) -> list[Finding]:
    """gitleaks scans the whole tree itself (fast, no cache needed); --redact keeps secrets out of its report.

    Only leaks in `scanned` are kept: gitleaks also reads vendored trees the walk
    leaves out, and the rest of the directory when the root is a single file.
    """
    import tempfile  # here: a warm launch imports this module but never scans with gitleaks (new_draft's note)

    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        run = subprocess.run(
            ["gitleaks", "detect", "--no-git", "--source", root, "--report-format", "json",
             "--report-path", str(report), "--redact", "--no-banner", "--exit-code", "0", "--log-level", "error"],
            capture_output=True, text=True,
        )
        if run.returncode != 0 or not report.is_file():
            raise _gitleaks_failed(run.stderr.strip()[-300:] or str(run.returncode))
        try:
            leaks = json.loads(report.read_text() or "[]")
            found = [
                Finding(path=os.path.relpath(os.path.join(root, leak["File"]), root), rule=leak["RuleID"],
                        severity="medium" if leak["RuleID"].startswith("generic") else "high", source="gitleaks",
                        line=leak.get("StartLine"), secret_hash=leak.get("Fingerprint"), root=root)
                for leak in leaks
            ]
        except (ValueError, TypeError, KeyError, AttributeError) as error:  # a report we cannot read: no traceback
            raise _gitleaks_failed(f"unreadable report ({error!r})") from None
    return [finding for finding in found if finding.path in scanned]


def _gitleaks_failed(why: str) -> Exception:
    from ..errors import AishellError

    return AishellError(f"gitleaks failed: {why}",
                        hint="run it by hand to see why, or take it off PATH to use detect-secrets")
