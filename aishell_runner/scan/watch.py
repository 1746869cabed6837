"""A change journal for large trees: one watcher process per root, fed by the kernel (inotify, Linux only).

Stat-ing every file at every launch costs 0.18 s on 100,000 files. Instead, a
scan of a tree of WATCH_FROM files or more starts a small watcher process
(`python -m aishell_runner.scan.watch ROOT CACHE_DIR`) that watches every
directory the walk enters and records which paths changed, numbered by the
syncs it answered. A scan first syncs (`sync`): the watcher creates a cookie
file in the root and reads its events until it sees the cookie come back, so
every change made before the sync has been read; it answers with the sync's
number (a token, with the watcher's generation) and the paths changed since a
token the scan asks about. A cache saved with a token is valid as of that sync
(everything in it was read after it), so the next scan re-checks only the paths
changed since, and reuses everything else without a `stat`.

The watcher vouches only for what inotify reports, and says so: it cannot vouch
(the scan then takes the full `stat` path) on a filesystem outside LOCAL_FS
(network, FUSE, 9p miss changes made elsewhere), with a mount point inside the
tree, an unreadable directory, too few inotify watches, after an event queue
overflow, or when a file appears with a second hard link (or vanishes before the
watcher could look at it: it might have been one), since a write through
another link of a file reports only that link's name. A token also carries
the time of the last full pass of its cache (every file stat-ed), kept by the
scans that only looked at what changed; one older than TRUST_FOR is refused,
since a write through a hard link made from outside the tree sends no event in
it: a full pass comes at least that often.
A watcher that is not running, answers late, or belongs to another generation
also means the full path. The watcher exits after IDLE_EXIT without a question
and when its root is removed, moved or replaced.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import select
import socket
import stat
import struct
import subprocess
import sys
import time
from pathlib import Path

WATCH_FROM = 20_000  # files: smaller trees are stat-ed quickly enough, and never get a watcher
IDLE_EXIT = 6 * 3600  # seconds without a question
TRUST_FOR = 3600  # seconds: a cache whose last full pass is older is not vouched for (a full pass this often)
ANSWER_TIMEOUT = 1.0  # seconds a scan waits for the watcher's answer before taking the full path
COOKIE = ".aishell-scan-cookie-"
# statfs f_type of local filesystems, where inotify sees every change made through any mount of them.
LOCAL_FS = {0xEF53: "ext2/3/4", 0x58465342: "xfs", 0x9123683E: "btrfs", 0x01021994: "tmpfs",
            0x794C7630: "overlayfs", 0xF2F52010: "f2fs"}

IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_DELETE_SELF, IN_MOVE_SELF, IN_UNMOUNT, IN_Q_OVERFLOW, IN_IGNORED = 0x400, 0x800, 0x2000, 0x4000, 0x8000
IN_ONLYDIR, IN_DONT_FOLLOW, IN_ISDIR = 0x01000000, 0x02000000, 0x40000000
MASK = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
        | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW)
EVENT = struct.Struct("iIII")


def socket_path(cache_dir: Path, root: str) -> Path:
    from .walk import tree_cache

    return tree_cache(cache_dir, root).with_suffix("").with_suffix(".watch")


# ------------------------------------------------------------------------------------------------ the scan's side


class Journal:
    """One sync's answer: the token a cache made from now on is saved under, and what changed since a token."""

    def __init__(self, token: list, synced_at: float, oldest: int, asked: int | None, changes: dict[str, int],
                 address: str) -> None:
        self.token = token  # [generation, sync number]
        self.synced_at = synced_at  # time.time() before the sync
        self.oldest = oldest  # the oldest sync number still vouched for
        self.asked = asked  # `changes` holds every path changed after this sync number
        self.changes = changes  # path -> the sync number it changed before
        self.address = address
        self.extra: set[str] = set()  # paths the caller found changed itself
        self.full_at: float | None = None  # the oldest full pass among the tokens given out (`saved`)

    def saved(self, token: object, vouched: bool) -> list:
        """The token to save a cache under after this scan: this sync's, with the time of the cache's last full
        pass (`token`'s when the journal vouched for it, else this scan's own)."""
        full_at = token[2] if vouched and isinstance(token, list) else self.synced_at
        self.full_at = full_at if self.full_at is None else min(self.full_at, full_at)
        return [*self.token, full_at]

    def since(self, token: object) -> set[str] | None:
        """The paths changed since `token` (a cache's), or None when the watcher cannot vouch for it."""
        if not (isinstance(token, list) and len(token) == 3 and token[0] == self.token[0]
                and type(token[1]) is int and self.oldest <= token[1] <= self.token[1]
                and type(token[2]) is float and 0 <= time.time() - token[2] < TRUST_FOR):
            return None
        if self.asked is None or token[1] < self.asked:
            answer = _ask(self.address, {"op": "since", "since": token[1]})
            if not (isinstance(answer, dict) and answer.get("ok") and answer.get("gen") == self.token[0]
                    and isinstance(answer.get("changes"), dict)
                    and set(map(type, answer["changes"].values())) <= {int}):
                return None
            self.asked, self.changes = token[1], {**self.changes, **answer["changes"]}
        return {path for path, number in self.changes.items() if number > token[1]} | self.extra


def sync(root: str, cache_dir: Path, since: object = None) -> Journal | str:
    """The watcher's answer, or why there is none: "absent" (no watcher runs for this root), or another reason."""
    if not sys.platform.startswith("linux"):
        return "not Linux"
    asked = since[1] if isinstance(since, list) and len(since) == 2 and type(since[1]) is int else None
    address = str(socket_path(cache_dir, root))
    synced_at = time.time()
    answer = _ask(address, {"op": "sync", "since": asked})
    if isinstance(answer, str):
        return answer
    try:
        if not answer["ok"]:
            return str(answer.get("why"))
        changes = answer["changes"]
        if isinstance(changes, dict) and not set(map(type, changes.values())) <= {int}:
            return "an answer it could not read"
        token = [str(answer["gen"]), int(answer["seq"])]
        return Journal(token, synced_at, int(answer["oldest"]), asked if isinstance(changes, dict) else None,
                       changes if isinstance(changes, dict) else {}, address)
    except (KeyError, TypeError, ValueError):
        return "an answer it could not read"


def start(root: str, cache_dir: Path) -> None:
    """Starts a watcher for `root` in the background (one at most: a second one exits at once)."""
    if not sys.platform.startswith("linux"):
        return
    import aishell_runner

    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(aishell_runner.__file__)), os.environ.get("PYTHONPATH", "")]))
    with contextlib.suppress(OSError):
        subprocess.Popen([sys.executable, "-m", "aishell_runner.scan.watch", root, str(cache_dir)], cwd="/",
                         env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         start_new_session=True, close_fds=True)


def stop(root: str, cache_dir: Path) -> int | None:
    """Asks the watcher of `root` to exit; its process id, or None when none answered."""
    answer = _ask(str(socket_path(cache_dir, root)), {"op": "stop"})
    return answer.get("pid") if isinstance(answer, dict) else None


def _ask(address: str, request: dict) -> dict | str:
    """One question on a new connection (a scan never holds the watcher); a reason string when it failed."""
    directory, name = os.path.split(address)
    try:
        dirfd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return "absent"
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(ANSWER_TIMEOUT)
            try:  # through /proc/self/fd: a socket's address may be no longer than 107 bytes
                client.connect(f"/proc/self/fd/{dirfd}/{name}")
            except (FileNotFoundError, ConnectionRefusedError):
                return "absent"
            client.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = client.recv(1 << 20)
                if not chunk:
                    return "no answer"
                data += chunk
        answer = json.loads(data)
        return answer if isinstance(answer, dict) else "an answer it could not read"
    except TimeoutError:
        return "no answer in time"
    except (OSError, ValueError):
        return "no answer"
    finally:
        os.close(dirfd)


# ------------------------------------------------------------------------------------------------ the watcher


class Broken(Exception):
    """Why the watcher cannot vouch for the tree any more."""


class RootGone(Broken):
    """The root was removed, moved or replaced: the watcher exits."""


class Watcher:
    def __init__(self, root: str):
        import ctypes  # here, in the watcher's own process: a scan that only asks it pays no ctypes import

        from .walk import SKIPPED_DIRS

        self.ctypes = ctypes
        self.skipped_dirs = SKIPPED_DIRS
        self.root = root
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.gen = os.urandom(8).hex()
        self.epoch = 1  # the number of the next sync: every change read now happened before it
        self.syncs: dict[int, float] = {}  # sync number -> when
        self.reset = 1  # syncs before this one cannot be vouched for (an overflow, an unknown link)
        self.changes: dict[str, int] = {}
        self.dirs: dict[int, str] = {}  # watch descriptor -> relative directory
        self.wds: dict[str, int] = {}
        self.venvs: set[str] = set()  # watched, not entered (as in walk.py)
        self.broken: str | None = None
        self.cookie: str | None = None
        self.cookie_seen = False
        self.identity = _identity(root)
        self.fd = self.libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise Broken(f"inotify unavailable ({os.strerror(self.ctypes.get_errno())})")
        kind = _fs_type(root)
        if kind not in LOCAL_FS:
            raise Broken(f"a filesystem inotify may not see every change on (type {kind:#x})")
        self.dev = os.lstat(root).st_dev
        _check_mounts(root)
        self._watch("", record=False)

    # -- watches

    def _watch(self, top: str, *, record: bool) -> None:
        """Watches `top` and every directory under it the walk would enter; records their paths if asked."""
        pending = [top]
        while pending:
            relative = pending.pop()
            path = os.path.join(self.root, relative) if relative else self.root
            wd = self.libc.inotify_add_watch(self.fd, os.fsencode(path), MASK)
            if wd < 0:
                error = self.ctypes.get_errno()
                if error in (errno.ENOENT, errno.ENOTDIR):
                    continue  # gone already: its parent's event says so
                if error == errno.ENOSPC:
                    raise Broken("out of inotify watches (fs.inotify.max_user_watches)")
                raise Broken(f"cannot watch {relative or '.'} ({os.strerror(error)})")
            try:
                if os.lstat(path).st_dev != self.dev:
                    raise Broken(f"a mount point inside the tree ({relative})")
                self.dirs[wd], self.wds[relative] = relative, wd
                if relative and os.path.exists(os.path.join(path, "pyvenv.cfg")):
                    self.venvs.add(relative)
                    continue
                with os.scandir(path) as entries:
                    for entry in entries:
                        child = f"{relative}/{entry.name}" if relative else entry.name
                        if record:
                            self.changes[child] = self.epoch
                        if entry.is_dir(follow_symlinks=False) and entry.name not in self.skipped_dirs:
                            pending.append(child)
            except FileNotFoundError:
                continue
            except OSError as error:
                raise Broken(f"unreadable directory {relative or '.'} ({error.strerror})") from None

    def _forget(self, top: str) -> None:
        for relative in [r for r in self.wds if r == top or r.startswith(top + "/")]:
            wd = self.wds.pop(relative)
            self.dirs.pop(wd, None)
            self.venvs.discard(relative)
            self.libc.inotify_rm_watch(self.fd, wd)

    # -- events

    def read_events(self) -> None:
        while True:
            try:
                data = os.read(self.fd, 1 << 16)
            except BlockingIOError:
                return
            offset = 0
            while offset < len(data):
                wd, mask, _, length = EVENT.unpack_from(data, offset)
                name = os.fsdecode(data[offset + EVENT.size:offset + EVENT.size + length].rstrip(b"\0"))
                offset += EVENT.size + length
                self._event(wd, mask, name)

    def _event(self, wd: int, mask: int, name: str) -> None:
        if mask & IN_Q_OVERFLOW:
            self.reset = self.epoch
            return
        directory = self.dirs.get(wd)
        if directory is None:  # a watch given up already
            return
        if mask & IN_UNMOUNT:
            raise Broken("a filesystem under the tree was unmounted")
        if mask & IN_IGNORED:
            self.dirs.pop(wd, None)
            if self.wds.get(directory) == wd:
                self.wds.pop(directory)
            if not directory:
                raise RootGone("the root is gone")
            return
        if mask & (IN_DELETE_SELF | IN_MOVE_SELF):
            if not directory:
                raise RootGone("the root is gone")
            return  # its parent's event names it
        if not name:  # the directory itself (its mode, its owner)
            self.changes[directory] = self.epoch
            return
        if not directory and name.startswith(COOKIE):
            self.cookie_seen |= name == self.cookie
            return
        relative = f"{directory}/{name}" if directory else name
        self.changes[relative] = self.epoch
        if mask & IN_ISDIR:
            if mask & (IN_MOVED_FROM | IN_DELETE):
                self._forget(relative)
            if mask & (IN_CREATE | IN_MOVED_TO) and directory not in self.venvs and name not in self.skipped_dirs:
                self._watch(relative, record=True)
        elif mask & (IN_CREATE | IN_MOVED_TO):
            try:
                linked = os.lstat(os.path.join(self.root, relative)).st_nlink > 1
            except OSError:  # gone before it could be looked at: it may have been a second link
                linked = True
            if linked:  # a write through another link would name only that link
                self.reset = self.epoch
        if name == "pyvenv.cfg" and directory in self.venvs and \
                not os.path.exists(os.path.join(self.root, directory, name)):
            self.venvs.discard(directory)  # no longer a virtual environment: entered by the walk from now on
            self._forget(directory)
            self._watch(directory, record=True)

    # -- questions

    def answer(self, request: dict) -> dict:
        if self.broken:
            return {"ok": False, "why": self.broken, "pid": os.getpid()}
        if request.get("op") == "sync":
            self._sync()
        now = time.monotonic()
        for number in [n for n, when in self.syncs.items() if when < now - TRUST_FOR]:
            del self.syncs[number]
        oldest = max(self.reset, min(self.syncs, default=self.epoch))
        self.changes = {path: number for path, number in self.changes.items() if number > oldest}
        since = request.get("since")
        vouched = type(since) is int and oldest <= since < self.epoch
        return {"ok": True, "gen": self.gen, "seq": self.epoch - 1, "oldest": oldest, "pid": os.getpid(),
                "changes": {p: n for p, n in self.changes.items() if n > since} if vouched else None}

    def _sync(self) -> None:
        """Every change made before now has been read once this returns (or Broken is raised)."""
        if _identity(self.root) != self.identity:
            raise RootGone("the root was replaced")
        _check_mounts(self.root)
        self.cookie, self.cookie_seen = f"{COOKIE}{os.getpid()}-{self.epoch}", False
        path = os.path.join(self.root, self.cookie)
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC, 0o600))
        except OSError as error:
            raise Broken(f"cannot write a cookie into the root ({error.strerror})") from None
        try:
            deadline = time.monotonic() + ANSWER_TIMEOUT / 2
            while not self.cookie_seen:
                if time.monotonic() > deadline:
                    raise Broken("the cookie was not seen")
                select.select([self.fd], [], [], 0.05)
                self.read_events()
        finally:
            with contextlib.suppress(OSError):
                os.unlink(path)
        self.syncs[self.epoch] = time.monotonic()
        self.epoch += 1

    def give_up(self, why: str) -> None:
        self.broken = why
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.dirs, self.wds, self.changes = {}, {}, {}


def _identity(root: str) -> tuple[int, int] | None:
    try:
        info = os.lstat(root)
    except OSError:
        return None
    return (info.st_dev, info.st_ino) if stat.S_ISDIR(info.st_mode) else None


def _fs_type(path: str) -> int:
    import ctypes

    buffer = ctypes.create_string_buffer(512)  # struct statfs; f_type is its first field, a long
    if ctypes.CDLL(None, use_errno=True).statfs(os.fsencode(path), buffer) != 0:
        return 0
    return struct.unpack_from("l", buffer)[0] & 0xFFFFFFFF


def _check_mounts(root: str) -> None:
    """Broken when something is mounted inside the tree (inotify does not see through a mount)."""
    inside = root.rstrip("/") + "/"
    with contextlib.suppress(OSError), open("/proc/self/mountinfo", "rb") as handle:
        for line in handle:
            point = line.split(b" ")[4].decode("unicode_escape", "replace")  # octal escapes: \040 is a space
            if point.startswith(inside):
                raise Broken(f"a mount point inside the tree ({point})")


def serve(root: str, cache_dir: Path) -> None:
    """The watcher's life: one per root (a lock), its watches in place before its socket answers."""
    address = socket_path(cache_dir, root)
    cache_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = os.open(address.with_suffix(".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another watcher has this root
    try:
        watcher = Watcher(root)
    except Broken as why:
        watcher = Watcher.__new__(Watcher)
        watcher.broken, watcher.fd, watcher.identity = str(why), -1, _identity(root)
    with contextlib.suppress(FileNotFoundError):
        address.unlink()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dirfd = os.open(cache_dir, os.O_RDONLY | os.O_DIRECTORY)
    server.bind(f"/proc/self/fd/{dirfd}/{address.name}")
    server.listen(16)
    last_question = time.monotonic()
    while time.monotonic() - last_question < IDLE_EXIT:
        if _identity(root) != watcher.identity:
            break  # the root was removed or replaced: nothing left to watch
        ready, _, _ = select.select([server] + ([watcher.fd] if watcher.fd >= 0 and not watcher.broken else []),
                                    [], [], 60)
        try:
            if watcher.fd in ready and not watcher.broken:
                watcher.read_events()
            if server in ready:
                last_question = time.monotonic()
                if not _serve_one(server, watcher):
                    break
        except RootGone:
            break
        except Broken as why:
            watcher.give_up(str(why))
    with contextlib.suppress(OSError):
        address.unlink()  # ours: no other watcher of this root runs while we hold the lock
    server.close()


def _serve_one(server: socket.socket, watcher: Watcher) -> bool:
    """Answers one question; False when asked to stop."""
    connection, _ = server.accept()
    with connection:
        connection.settimeout(ANSWER_TIMEOUT)
        try:
            data = b""
            while not data.endswith(b"\n"):
                chunk = connection.recv(4096)
                if not chunk:
                    return True
                data += chunk
            request = json.loads(data)
            if not isinstance(request, dict):
                return True
            if request.get("op") == "stop":
                connection.sendall(json.dumps({"ok": True, "pid": os.getpid()}).encode() + b"\n")
                return False
            try:
                answer = watcher.answer(request)
            except RootGone as why:
                connection.sendall(json.dumps({"ok": False, "why": str(why)}).encode() + b"\n")
                return False
            except Broken as why:
                watcher.give_up(str(why))
                answer = watcher.answer(request)
            connection.sendall(json.dumps(answer).encode() + b"\n")
        except (OSError, ValueError):
            pass
    return True


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        serve(os.path.abspath(sys.argv[1]), Path(sys.argv[2]))
