"""The files under a root, without following symlinks or entering vendored trees; listed once and remembered.

Symlinks are never followed (a link out of the project is reported, and a link
inside it is scanned where it points). Directories the scan cannot read are
reported and the walk goes on.

A directory's ctime changes whenever an entry in it is added, removed or
renamed, and whenever its mode or owner changes: a directory whose ctime is
the one remembered holds the same entries, so a walk lists again only the
directories with a new ctime (a warm launch on a 100,000-file tree stats its
thousand directories instead of listing them). A directory changed in the
moment of its last listing is listed again ("racy", as git says: timestamps
are coarser than the changes). Symlinks are judged again every time, as their
targets may change anywhere. What callers compute from the names alone (the
name rules' verdicts, `exclude:`) is kept beside the listings in `memo` and
dropped whenever a listing differs.

With a journal of changes (watch.py) that vouches for the cache, a walk does
not even stat the directories: it lists again only those an event named (their
ctime then decides, as above) and, whole, those that were created, moved or
changed themselves.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import hashlib
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ..cache_files import save_json

if TYPE_CHECKING:
    from .watch import Journal

from .findings import Skipped, display

# Vendored, generated and cache trees: not the user's files, and often huge.
SKIPPED_DIRS = frozenset({
    ".git", ".hg", ".svn", "node_modules", "bower_components", "vendor", "__pycache__", ".venv", "venv",
    ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".gradle", ".next", ".nuxt", ".terraform",
    "build", "dist", "target",
})
VENDORED = "vendored or generated tree"
CACHE_VERSION = 1
# Changes within this long of a listing may share its timestamps: such a directory is listed again.
RACY_NS = 1_000_000_000


class File(NamedTuple):  # a tuple: a walk makes one per file, 100,000 of them on a large tree
    relative: str  # "/"-separated, relative to the root
    path: str  # absolute


class Listing:
    """One directory as the walk saw it: names only, by kind."""

    def __init__(self, ctime: int, files: list[str] | None = None, dirs: list[str] | None = None,
                 links: list[str] | None = None, skipped: list[list[str]] | None = None, vendored: bool = False,
                 error: str | None = None) -> None:
        self.ctime = ctime
        self.files = files if files is not None else []
        self.dirs = dirs if dirs is not None else []  # to enter
        self.links = links if links is not None else []
        self.skipped = skipped if skipped is not None else []  # [name, reason]: vendored, not a regular file, ...
        self.vendored = vendored  # the directory itself is a virtual environment
        self.error = error  # it could not be listed

    def to_json(self) -> dict[str, object]:
        # Names joined by NUL (which no name holds): one string a kind, quick to write and to read back.
        return {"ctime": self.ctime, "files": "\0".join(self.files), "dirs": "\0".join(self.dirs),
                "links": "\0".join(self.links), "skipped": self.skipped, "vendored": self.vendored,
                "error": self.error}

    def same_names(self, other: Listing) -> bool:
        return (self.files, self.dirs, self.links, self.skipped, self.vendored, self.error) == \
               (other.files, other.dirs, other.links, other.skipped, other.vendored, other.error)


class Tree:
    """A walk's result, and what it remembers for the next walk of the same root."""

    def __init__(self, root: str, skipped: list[Skipped], listings: dict[str, Listing], memo: dict[str, object],
                 cache: Path | None, started: int) -> None:
        self.root = root
        self.skipped = skipped
        self.listings = listings  # by relative directory ("" is the root), in walk order
        self.memo = memo
        self.cache = cache
        self.started = started  # time.time_ns() when the listing began
        self.dirty = False
        self.watch: list | None = None  # the journal's token this walk is saved under (watch.py)
        self.changed: set[str] | None = None  # what the journal says changed since the cache was saved; None: unknown

    @functools.cached_property
    def files(self) -> list[File]:
        """The regular files, in walk order (made when asked: a warm launch that needs only the names' verdicts
        does not make 100,000 of them)."""
        files: list[File] = []
        for relative_dir, listing in self._entered():
            within = f"{relative_dir}/" if relative_dir else ""
            directory = os.path.join(self.root, relative_dir) if relative_dir else self.root
            inside = directory if directory.endswith("/") else f"{directory}/"  # not os.path.join: 100,000 calls
            files += [File(within + name, inside + name) for name in listing.files]
        return files

    @property
    def file_count(self) -> int:
        return sum(len(listing.files) for _, listing in self._entered())

    def _entered(self) -> list[tuple[str, Listing]]:
        """The directories whose files were walked (not a virtual environment's, not an unreadable one)."""
        return [(relative, listing) for relative, listing in self.listings.items()
                if not (listing.vendored or listing.error)]

    def save(self) -> None:
        """Remembers the listings and the memo for the next walk (if anything changed; never fatal)."""
        if self.cache is None or not self.dirty:
            return
        data = {"version": CACHE_VERSION, "root": self.root, "started": self.started, "memo": self.memo,
                "watch": self.watch,
                "listings": {relative: listing.to_json() for relative, listing in self.listings.items()}}
        save_json(self.cache, data)
        self.dirty = False

    def remember(self, key: str, value: object) -> None:
        """Keeps what a caller computed from the names (JSON), until they change."""
        self.memo[key] = value
        self.dirty = True

    def racy(self, ctime: int) -> bool:
        return racy(ctime, self.started)


def racy(ctime: int, started: int) -> bool:
    """Whether a timestamp is too close to a walk (or a scan) begun at `started` to prove that nothing changed
    after it."""
    return ctime >= started - RACY_NS


def tree_cache(cache_dir: Path, root: str) -> Path:
    """Where the walk of `root` is remembered (beside the content scan's results for it)."""
    return cache_dir / (hashlib.sha256(root.encode("utf-8", "surrogateescape")).hexdigest()[:24] + ".tree.json")


def walk(root: str, cache: Path | None = None, journal: Journal | None = None) -> Tree:
    """The regular files under `root` and what is left out. With `cache`, the last walk's listings are reused
    where a directory's ctime proves them current, and this walk's are kept there (`Tree.save`). With a
    `journal` (synced before this walk), only the directories it names are looked at."""
    previous, previous_started, memo, token = _load(cache, root)
    tree = Tree(root, [], {}, memo, cache, time.time_ns())
    changed = tree.changed = journal.since(token) if journal and previous else None
    tree.watch = journal.saved(token, changed is not None) if journal else None
    named = {path.rpartition("/")[0] for path in changed} if changed is not None else set()
    real_root = os.path.realpath(root)
    pending, relisted = [""], False
    while pending:
        relative_dir = pending.pop()
        directory = os.path.join(root, relative_dir) if relative_dir else root
        known = previous.get(relative_dir)
        if changed is not None and relative_dir in changed:
            listing = _current(relative_dir, directory, None, 0)  # created, moved or changed itself: listed anew
        elif changed is not None and known is not None and relative_dir not in named:
            listing = known  # no event in it since the cache was saved
        else:
            listing = _current(relative_dir, directory, known, previous_started)
        relisted |= listing is not known
        tree.listings[relative_dir] = listing
        if listing.vendored:
            tree.skipped.append(Skipped(relative_dir, VENDORED))
            continue
        if listing.error:
            tree.skipped.append(Skipped(relative_dir or ".", f"unreadable directory ({listing.error})"))
            continue
        within = f"{relative_dir}/" if relative_dir else ""
        for name in listing.links:
            reason = symlink_problem(os.path.join(directory, name), real_root)
            if reason:
                tree.skipped.append(Skipped(within + name, reason))
        tree.skipped += [Skipped(within + name, reason) for name, reason in listing.skipped]
        pending += [within + name for name in reversed(listing.dirs)]
    if set(previous) != set(tree.listings) or any(
            not listing.same_names(previous[relative]) for relative, listing in tree.listings.items()):
        tree.memo = {}  # the names changed: what was computed from them is stale
    # Saved also when only a listing was made anew: its walk's time is what makes a racy listing trusted later.
    tree.dirty = relisted or len(previous) != len(tree.listings)
    # A cache the journal could not vouch for is saved under its token: vouched for from now on.
    tree.dirty |= journal is not None and changed is None
    return tree


def _current(relative: str, directory: str, known: Listing | None, known_started: int) -> Listing:
    """The remembered listing while the directory's ctime says it is current, else a new one."""
    try:
        ctime = os.lstat(directory).st_ctime_ns
    except OSError as error:
        return Listing(ctime=0, error=error.strerror)
    if known is not None and known.ctime == ctime and not racy(ctime, known_started):
        return known
    return _list(relative, directory, ctime)


def _list(relative: str, directory: str, ctime: int) -> Listing:
    listing = Listing(ctime=ctime)
    if relative and os.path.exists(os.path.join(directory, "pyvenv.cfg")):
        listing.vendored = True
        return listing
    try:
        with os.scandir(directory) as entries:
            found = sorted(entries, key=lambda entry: entry.name)
    except OSError as error:
        listing.error = error.strerror
        return listing
    for entry in found:
        try:
            if entry.is_symlink():
                listing.links.append(entry.name)
            elif entry.is_dir(follow_symlinks=False):
                if entry.name in SKIPPED_DIRS:
                    listing.skipped.append([entry.name, VENDORED])
                else:
                    listing.dirs.append(entry.name)
            elif entry.is_file(follow_symlinks=False):
                listing.files.append(entry.name)
            else:
                listing.skipped.append([entry.name, "not a regular file"])
        except OSError as error:
            listing.skipped.append([entry.name, f"unreadable ({error.strerror})"])
    return listing


def _load(cache: Path | None, root: str) -> tuple[dict[str, Listing], int, dict[str, object], list | None]:
    """The last walk's listings, when; and its memo. Nothing when the cache is missing, of another version or
    damaged: every part is checked here, so a damaged cache costs a full walk, never a crash or a wrong walk."""
    if cache is None:
        return {}, 0, {}, None
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError, AttributeError):
        stat = cache.stat()
        key = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if _PARSED.get(cache, (None,))[0] == key:
            return _PARSED[cache][1]
        data = json.loads(cache.read_bytes())
        if data["version"] == CACHE_VERSION and data["root"] == root:
            listings = {str(relative): _listing(entry) for relative, entry in data["listings"].items()}
            memo, token = data["memo"], data.get("watch")
            if isinstance(memo, dict):
                _PARSED[cache] = key, (listings, int(data["started"]), memo, token if isinstance(token, list) else None)
                return _PARSED[cache][1]
    return {}, 0, {}, None


# The cache files read in this process, by path: (their stat, what _load made of them). A launch walks the
# project twice (`exclude:`, then the scan): the second walk does not parse the same file again. A walk never
# changes a listing it reuses, and one that changes the memo saves it, which gives the file a new stat.
_PARSED: dict[Path, tuple[tuple[int, int, int], tuple[dict[str, Listing], int, dict[str, object], list | None]]] = {}


def _listing(entry: dict) -> Listing:
    names = {key: entry[key].split("\0") if entry[key] else [] for key in ("files", "dirs", "links")}
    skipped = [[str(name), str(reason)] for name, reason in entry["skipped"]]
    error = entry["error"]
    return Listing(ctime=int(entry["ctime"]), skipped=skipped, vendored=bool(entry["vendored"]),
                   error=None if error is None else str(error), **names)


def single_file(path: str) -> File | None:
    """A root that is one file (a mounted file rather than a directory)."""
    parent, name = os.path.split(path)
    try:
        with os.scandir(parent) as entries:
            entry = next((entry for entry in entries if entry.name == name), None)
    except OSError:  # a directory one may enter but not list (mode 711): the file is there, its entry is not
        return None
    return File(name, path) if entry and entry.is_file(follow_symlinks=False) else None


def stat_key(path: str) -> str | None:
    """What says a file is the one looked at before: its size, mtime, ctime and number of links."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return f"{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}:{info.st_nlink}"


def key_ctime(key: str) -> int:
    return int(key.split(":")[2])


def symlink_problem(path: str, real_root: str) -> str | None:
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
