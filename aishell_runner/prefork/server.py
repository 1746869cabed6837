"""The user's prefork server: aishell-run's modules imported once, and a worker forked from them for each command
that a client (client.py) hands over.

One server per installation and user, listening at client.socket_path(), started by a client that found none.
Whether a server runs for a socket is a lock held as long as it runs (as for Podman's service,
engines/podman_api.py): a second server exits at once. It exits after IDLE_SECONDS without a command, and as soon
as a file of the modules it imported has changed (an upgrade, an edit): a worker never runs code older than a
fresh process would.

A worker takes over the client's standard descriptors, working directory, umask, environment and arguments, then
runs cli.main() as the client itself would have: one path for a command, with a server or without. What a worker
cannot take over (client.identity(): ids, limits, namespaces, privileges) must be the server's own, else the
client runs the command itself. A worker has a session of its own and no controlling terminal, so the signals
that a terminal sends reach only the client: it forwards them, and the worker sends them to its process group
(itself and the engine client, whom the terminal would have signalled). A client gone without a word is a
closed terminal: the process group is hung up. The records and watchdogs of its sessions name the client
(owner.py), the process a user sees and stops.
"""

import contextlib
import fcntl
import gc
import marshal
import os
import signal
import socket
import struct
import sys
import threading

from .. import owner
from . import client

IDLE_SECONDS = 1200  # as Podman's service (engines/podman_api.py): a working session's commands stay fast
REQUEST_BYTES = 1 << 20
DESCRIPTORS = 4  # standard input, output, error, and the working directory
SIGNALS = frozenset(client.FORWARDED)


def serve(path: str) -> None:
    os.chdir("/")  # holds no user's directory busy
    lock = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another server has this socket
    import rich.console  # noqa: F401  what a launch that has something to say prints with (ui.UI.err)

    from .. import cli  # noqa: F401  what every command imports
    from ..commands import launch  # noqa: F401  and what a launch does

    modules = _module_files()
    own = client.identity()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)  # a killed server's (we hold the lock)
    listener.bind(path)
    listener.listen(64)
    listener.settimeout(IDLE_SECONDS)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps the workers
    gc.freeze()  # the imported objects stay shared with the workers, untouched by their collections
    try:
        while True:
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                return
            with connection:
                try:
                    if not _hand_over(connection, listener, lock, modules, own):
                        return
                except Exception:  # one bad request (or a failed fork) costs its client the fast path, no more
                    continue
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        listener.close()


def _module_files() -> dict[str, tuple[int, int, int]]:
    """Each of our imported modules' file, with what tells that it changed."""
    files = {}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path and (name == "aishell_runner" or name.startswith("aishell_runner.")):
            info = os.stat(path)
            files[path] = (info.st_ino, info.st_size, info.st_mtime_ns)
    return files


def _stale(modules: dict[str, tuple[int, int, int]]) -> bool:
    for path, known in modules.items():
        try:
            info = os.stat(path)
        except OSError:
            return True
        if (info.st_ino, info.st_size, info.st_mtime_ns) != known:
            return True
    return False


def _hand_over(connection: socket.socket, listener: socket.socket, lock: int, modules: dict, own: tuple) -> bool:
    """Fork a worker for the command on `connection`, if this server may run it; False when the server must exit."""
    connection.settimeout(client.ANSWER_SECONDS)
    try:
        peer, uid, _gid = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
        if uid != os.getuid():
            return True
        message, ancillary, flags, _ = connection.recvmsg(REQUEST_BYTES, socket.CMSG_SPACE(DESCRIPTORS * 4))
    except OSError:
        return True
    descriptors = [fd for level, kind, data in ancillary if (level, kind) == (socket.SOL_SOCKET, socket.SCM_RIGHTS)
                   for fd in struct.unpack(f"{len(data) // 4}i", data[: len(data) // 4 * 4])]
    try:
        if _stale(modules):  # first: a newer client's request may not be one this code can read
            os.close(lock)  # before the answer: the server the client starts next may take the socket
            with contextlib.suppress(OSError):
                connection.send(b"stale")
            return False
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC) or len(descriptors) != DESCRIPTORS:
            return True
        try:
            argv, environ, umask, identity, streams, ignored = marshal.loads(message)
        except (EOFError, ValueError, TypeError):
            return True
        if identity != own:
            with contextlib.suppress(OSError):
                connection.send(b"differs")
            return True
        if os.fork() == 0:
            _work(connection, listener, lock, peer, argv, environ, umask, streams, ignored, descriptors)
    finally:
        for fd in descriptors:
            os.close(fd)
    return True


def _work(connection: socket.socket, listener: socket.socket, lock: int, peer: int, argv: list[str],
          environ: dict[bytes, bytes], umask: int, streams: tuple, ignored: tuple[int, ...],
          descriptors: list[int]) -> None:
    """The forked worker: become the client's command, run it, send its status, exit."""
    status, finished = 1, threading.Event()
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        # The client's signal dispositions, not the server's (which are whatever its starter's were).
        for signum in SIGNALS - {signal.SIGWINCH}:
            default = signal.default_int_handler if signum == signal.SIGINT else signal.SIG_DFL
            signal.signal(signum, signal.SIG_IGN if signum in ignored else default)
        listener.close()
        os.close(lock)  # the lock is the server's life, not its workers'
        os.setsid()
        for target, fd in enumerate(descriptors[:3]):
            os.dup2(fd, target)
        os.fchdir(descriptors[3])
        for fd in descriptors:
            os.close(fd)
        descriptors.clear()
        os.umask(umask)
        os.environ.clear()
        os.environb.update(environ)
        sys.stdin, sys.stdout, sys.stderr = (
            open(fd, mode, encoding=encoding, errors=errors, closefd=False,  # noqa: SIM115  the process's streams
                 buffering=1 if mode == "w" and (fd == 2 or os.isatty(fd)) else -1)
            for fd, mode, (encoding, errors) in zip((0, 1, 2), "rww", streams, strict=True))
        sys.argv = [sys.argv[0], *argv]
        owner.handed_over_by(peer)
        connection.settimeout(None)
        connection.send(b"ok")
        if connection.recv(16) != b"go":  # the client gave up waiting, and runs the command itself
            os._exit(0)
        threading.Thread(target=_relay_signals, args=(connection, finished), daemon=True).start()
        gc.disable()  # as cli.entry(): a command's process ends soon or waits on a child
        from .. import cli

        status = cli.main(argv)
    except SystemExit as done:
        status = done.code if isinstance(done.code, int) else 1
    except BaseException:  # whatever it was, the client gets a status
        status = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        finished.set()  # the client may go once it has the status: that is no hang-up
        with contextlib.suppress(OSError):
            connection.send(marshal.dumps(status))
        os._exit(status & 0xFF)


def _relay_signals(connection: socket.socket, finished: threading.Event) -> None:
    """The client's signals, sent on to this process group; a client gone without a word hangs it up."""
    # Not to this thread: a signal the kernel hands it would leave the main thread, where Python runs the handlers,
    # blocked in the call it is waiting in (a Ctrl-C that never interrupts).
    signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    while True:
        try:
            data = connection.recv(16)
            signum = marshal.loads(data) if data else signal.SIGHUP
        except (OSError, EOFError, ValueError, TypeError):
            data, signum = b"", signal.SIGHUP
        if finished.is_set():
            return
        if signum in SIGNALS:
            os.killpg(0, signum)
        if not data:
            return
