"""`aishell-run`'s entry point: hands the command to the user's prefork server (server.py) when one runs, else
runs it in this process.

Starting Python and importing what a launch needs is most of what a warm launch costs over a bare engine run
(about 70 ms of 90 with rootless Podman: docs/design/launch-server.md). The server has imported it once. This
client imports only modules written in C, sends its arguments, environment, umask, working directory and standard
descriptors over a Unix socket, forwards the signals that only it receives, and exits with the command's status.
It runs the command itself, as aishell-run always did, when no server can take it: its directory is not
private, AISHELL_RUN_SERVER is off, none runs yet (it starts one for the next commands), or the server is stale
or differs from this process in what a worker cannot take over (identity()).
"""

import _signal
import _socket  # not `socket`: its import of enum alone costs 9 ms, what this module exists to save
import binascii
import marshal
import os
import sys

SWITCH = "AISHELL_RUN_SERVER"  # "off": every command runs in its own process
ANSWER_SECONDS = 2.0  # a server that takes longer to fork a worker is busy or stuck: run the command here
FORWARDED = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGQUIT, _signal.SIGWINCH)
PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = ("import sys; sys.path[:] = sys.argv[2:]; from aishell_runner.prefork.server import serve; "
          "serve(sys.argv[1])")


def main() -> int:
    path = socket_path()
    status = _through_server(path, sys.argv[1:]) if path else None
    if status is not None:
        return status
    from ..cli import entry

    return entry()


def socket_path() -> str | None:
    """Where this installation's server listens for this user: in $XDG_RUNTIME_DIR/aishell when that runtime
    directory is the user's own and private (as logind makes it); without one (root under sudo, a container, WSL
    without systemd), in a private directory of the user's in $TMPDIR or /tmp, as tmux keeps its sockets. None
    when the directory is not private or not the user's, off Linux (SO_PEERCRED), or with AISHELL_RUN_SERVER=off."""
    if os.environ.get(SWITCH, "").lower() == "off" or not sys.platform.startswith("linux"):
        return None
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime:
        directory = f"{runtime}/aishell" if _private(runtime) else None
    else:
        temporary = os.environ.get("TMPDIR", "")
        directory = f"{temporary if temporary.startswith('/') else '/tmp'}/aishell-{os.getuid()}"
        try:  # noqa: SIM105  (contextlib would cost the client its import)
            os.mkdir(directory, 0o700)
        except OSError:  # made already, or cannot be: _private says whether it will do
            pass
        if not _private(directory):  # another user's, made first in a shared /tmp: no server, never theirs
            directory = None
    if directory is None:
        return None
    installation = binascii.crc32(os.fsencode(f"{sys.executable}\0{PACKAGE}"))
    path = f"{directory}/server-{installation:08x}.sock"
    return path if len(os.fsencode(path)) < 100 else None  # a socket's address holds 107 bytes


def _private(directory: str) -> bool:
    """`directory` is a directory (not a link to one) of this user's that no one else may enter."""
    try:
        info = os.lstat(directory) if directory.startswith("/") else None
    except OSError:
        return False
    return info is not None and info.st_mode & 0o170000 == 0o040000 and info.st_uid == os.getuid() \
        and not info.st_mode & 0o077


def identity() -> tuple:
    """What a worker inherits from the server instead of the client, so what the two must share: user, groups,
    resource limits, niceness, CPUs, namespaces, privileges (capabilities, no_new_privs, seccomp), security
    label, OOM score and import path. (Not the cgroup: each terminal may have its own, and a sandbox's limits
    are the engine's.)"""
    import resource  # in C, as the rest

    def read(path: str) -> str:
        try:
            with open(path) as file:
                return file.read()
        except OSError:
            return ""

    status = tuple(line for line in read("/proc/self/status").splitlines()
                   if line.startswith(("Uid:", "Gid:", "Groups:", "Cap", "NoNewPrivs:", "Seccomp:")))
    namespaces = []
    for kind in ("mnt", "net", "pid", "user", "uts", "ipc", "cgroup"):
        try:
            namespaces.append(os.readlink(f"/proc/self/ns/{kind}"))
        except OSError:
            namespaces.append("")
    limits = tuple(resource.getrlimit(getattr(resource, name)) for name in sorted(dir(resource))
                   if name.startswith("RLIMIT_"))
    return (status, tuple(namespaces), limits, os.getpriority(os.PRIO_PROCESS, 0), tuple(sorted(
        os.sched_getaffinity(0))), read("/proc/self/attr/current"), read("/proc/self/oom_score_adj"),
        tuple(sys.path))


def _through_server(path: str, argv: list[str]) -> int | None:
    """The command's exit status, run by a worker of the server at `path`; None when no server took it."""
    streams = (sys.stdin, sys.stdout, sys.stderr)
    if None in streams:  # a standard descriptor is closed: nothing to hand over
        return None
    connection = _socket.socket(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    try:
        connection.settimeout(ANSWER_SECONDS)
        try:
            connection.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):  # none runs, or a killed one's socket is left
            _start_server(path)
            return None
        umask = os.umask(0o077)
        os.umask(umask)
        # Signals this process ignores (as a background job's SIGINT and SIGQUIT are): the worker ignores them too.
        ignored = tuple(signum for signum in FORWARDED if _signal.getsignal(signum) == _signal.SIG_IGN)
        request = marshal.dumps((argv, dict(os.environb), umask, identity(),
                                 tuple((stream.encoding, stream.errors) for stream in streams), ignored))
        here = os.open(".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            descriptors = b"".join(fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2, here))
            connection.sendmsg([request], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, descriptors)])
            answer = connection.recv(16)
        finally:
            os.close(here)
        if answer == b"stale":  # its modules changed since it started; it has exited
            _start_server(path)
        if answer != b"ok":
            return None
        connection.settimeout(None)
        return _wait(connection, ignored)
    except OSError:  # no answer in time, too large an environment, a descriptor that cannot be sent
        return None
    finally:
        connection.close()


def _wait(connection: _socket.socket, ignored: tuple[int, ...]) -> int | None:
    """Forward the signals this process gets (the worker has no terminal of its own) until the status comes; None
    when the worker was gone before the command began."""
    ended_by = []

    def forward(signum: int, _frame: object) -> None:
        if signum != _signal.SIGWINCH:
            ended_by.append(signum)
        try:  # noqa: SIM105  (contextlib would cost the client its import)
            connection.send(marshal.dumps(signum))
        except OSError:
            pass

    previous = {signum: _signal.signal(signum, forward) for signum in FORWARDED if signum not in ignored}
    try:
        # From here on the worker runs the command, and this process only waits (a signal forwarded before this
        # reaches the worker first, and it ends without running the command).
        connection.send(b"go")
    except OSError:  # the worker is gone before it began (a signal forwarded first ended it, or it died)
        for signum, handler in previous.items():
            _signal.signal(signum, handler)
        return 128 + ended_by[-1] if ended_by else None  # None: the command runs here
    try:
        answer = connection.recv(16)
    except OSError:
        answer = b""
    try:
        return int(marshal.loads(answer))
    except (EOFError, ValueError, TypeError):
        pass
    if ended_by:  # stopped by a signal it was sent, as this process would have been
        return 128 + ended_by[-1]
    os.write(2, b"aishell-run: the process running the command ended without an exit status (killed?)\n")
    return 1


def _start_server(path: str) -> None:
    """A server for `path`, detached from this process and its terminal (a second one exits at once)."""
    try:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        child = os.fork()
    except OSError:
        return
    if child:
        os.waitpid(child, 0)
        return
    try:  # the child: a session of its own, and a grandchild that init adopts
        os.setsid()
        if os.fork() == 0:
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.execv(sys.executable, [sys.executable, "-c", SERVER, path, *sys.path])
    finally:
        os._exit(0)
