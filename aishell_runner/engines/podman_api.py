"""Podman's inspect documents and secrets through a `podman system service` of our own, over its Unix socket.

Podman has no daemon: every `podman ...` call is a new process, which for rootless Podman joins the user's
namespace and opens the storage, 100 ms and more each. A warm launch asks two inspects (its images' labels, the
egress proxy's state), and makes and removes a Podman secret for each secret variable. Podman's REST API does the
same (its libpod endpoints answer in the format the client prints) in a few milliseconds, but only while a service
runs, and Podman without systemd has no socket activation. So a launch that finds no service starts one, detached,
and asks the client itself; the launches after it ask the socket (unix_http.py). The service exits after
IDLE_SECONDS without a request.

One service per configuration: the socket's name is a hash of what decides which Podman answers and from which
storage (the user, the podman binary, the variables Podman reads, its configuration files as they are on disk). A
change of any of them names another socket, so a service started before the change never answers after it; the
old one exits when idle. Remote Podman (CONTAINER_HOST, CONTAINER_CONNECTION, containers.conf's `remote = true`:
macOS's Lima VM) is asked through its client, as before.

Whether a service lives for a socket is a lock: the service inherits the lock file's descriptor, locked with
flock, so the lock is held exactly as long as it runs. A socket that does not answer while nobody holds the lock is
a killed service's, and is replaced; while somebody does, a service is starting, and the client answers meanwhile.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from urllib.parse import quote

from . import unix_http

# A service that lives forever is bad manners; one that exits after a minute makes most launches ask the client.
# Twenty idle minutes keep a working session's launches on the socket, for about 45 MB of memory meanwhile.
IDLE_SECONDS = 1200
API = "/v4.0.0/libpod"  # Podman 4.0's API, which later Podman versions still serve
# An image's inspect costs Podman about 10 ms (it adds up the image's size); whether it has it, 2 ms.
ENDPOINTS = {"image": API + "/images/{}/json", "image present": API + "/images/{}/exists",
             "container": API + "/containers/{}/json", "network": API + "/networks/{}/json"}
DIRECTORY = "aishell-podman"  # in XDG_RUNTIME_DIR (root without one: /run), 0700
# What Podman reads from the environment to choose its configuration and storage (containers.conf(5),
# containers-storage.conf(5), containers-registries.conf(5)): part of the socket's name, and with PATH all the
# service is given of ours (the launch's environment holds the user's credentials; the service needs none).
CONFIG_ENV = ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR", "CONTAINERS_CONF",
              "CONTAINERS_CONF_OVERRIDE", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF",
              "REGISTRIES_CONFIG_PATH", "STORAGE_DRIVER", "STORAGE_OPTS", "TMPDIR")
SUN_PATH_MAX = 107  # a Unix socket's path, in bytes, without its terminating NUL


def create_secret(path: str, name: str, value: bytes, timeout: float) -> None:
    """Store `value` as the Podman secret `name` (the file driver, as `podman secret create`); raises OSError
    (TimeoutError when the service does not answer in `timeout`) when it is not stored, ValueError for an answer
    that is not HTTP."""
    status, _ = unix_http.request(path, "POST", f"{API}/secrets/create?name={quote(name, safe='')}&driver=file",
                                  timeout, value)
    if status not in (200, 201):
        raise OSError(f"Podman's service answered {status}")


def remove_secret(path: str, name: str, timeout: float) -> None:
    """Remove the Podman secret `name`, quiet when it is gone; raises as create_secret does."""
    status, _ = unix_http.request(path, "DELETE", f"{API}/secrets/{quote(name, safe='')}", timeout)
    if status not in (200, 204, 404):
        raise OSError(f"Podman's service answered {status}")


def socket_path() -> str | None:
    """The socket of the service for Podman as this process would run it; None where the client must be asked
    (a remote Podman, no podman, no runtime directory of ours)."""
    if sys.platform != "linux" or os.environ.get("CONTAINER_HOST") or os.environ.get("CONTAINER_CONNECTION"):
        return None
    podman = shutil.which("podman")
    directory = _runtime_directory()
    if podman is None or directory is None:
        return None
    conf = containers_conf_files()
    if _remote(conf):
        return None
    others = _other_config_files()
    # The storage itself: `podman system reset` (or a removed ~/.local/share/containers) makes it anew, and a
    # service that opened the old one goes on answering from it (its lock files are gone: it never sees a change).
    files = [podman, *conf, *others, *_storage_roots(others)]
    # A file that is missing is left out, and XDG_CONFIG_HOME with it (it only says where the user's files are):
    # launches whose settings name different homes for them, none of which holds Podman's files, share a service.
    # A file is named by its resolved path: homes whose `containers` links to one folder share a service too.
    identity = [str(os.geteuid()), *(f"{name}={os.environ.get(name)}" for name in CONFIG_ENV
                                     if name != "XDG_CONFIG_HOME"),
                *(f"{os.path.realpath(path)} {signature}" for path in files
                  if (signature := _signature(path)) is not None)]
    key = hashlib.sha256("\n".join(identity).encode(errors="surrogateescape")).hexdigest()[:16]
    path = os.path.join(directory, DIRECTORY, f"{key}.sock")
    return path if len(os.fsencode(path)) <= SUN_PATH_MAX else None


def start(path: str) -> None:
    """Start the service for `path` unless one lives: detached in its own session, its output nowhere, its
    working directory /, so it neither holds the user's terminal or project nor dies with them. Never raises:
    the client answers the launch that starts it."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        _start(path)


def _start(path: str) -> None:
    import fcntl  # here: only the launch that starts a service needs it

    podman = shutil.which("podman")
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    if podman is None or os.stat(directory).st_uid != os.geteuid():
        return
    lock = os.open(path.removesuffix(".sock") + ".lock", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # a service lives, or is starting: the next launch finds its socket
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # a killed service's: nothing listens on it
        environment = {name: os.environ[name] for name in (*CONFIG_ENV, "PATH") if name in os.environ}
        subprocess.Popen([podman, "system", "service", f"--time={IDLE_SECONDS}", f"unix://{path}"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         cwd="/", env=environment, start_new_session=True, pass_fds=(lock,))
    finally:
        os.close(lock)  # the service's copy keeps it locked


def containers_conf_files() -> list[str]:
    """containers.conf(5)'s files: the package's, the system's, the user's, each with its drop-ins (the folders
    too: a drop-in added or removed changes them)."""
    files = [os.environ["CONTAINERS_CONF"]] if os.environ.get("CONTAINERS_CONF") else []
    if os.environ.get("CONTAINERS_CONF_OVERRIDE"):
        files.append(os.environ["CONTAINERS_CONF_OVERRIDE"])
    for base in ("/usr/share/containers", "/etc/containers", _user_config()):
        files += [f"{base}/containers.conf", f"{base}/containers.conf.d", *_drop_ins(f"{base}/containers.conf.d")]
    return files


def _other_config_files() -> list[str]:
    """The storage's and the registries' configuration (containers-storage.conf(5), containers-registries.conf(5))."""
    user = _user_config()
    files = [os.environ.get("CONTAINERS_STORAGE_CONF") or f"{user}/storage.conf", "/etc/containers/storage.conf",
             "/usr/share/containers/storage.conf"]
    for base in ("/etc/containers", user):
        files += [f"{base}/registries.conf", f"{base}/registries.conf.d", *_drop_ins(f"{base}/registries.conf.d")]
    for name in ("CONTAINERS_REGISTRIES_CONF", "REGISTRIES_CONFIG_PATH"):
        if os.environ.get(name):
            files.append(os.environ[name])
    return files


def _storage_roots(storage_conf: list[str]) -> list[str]:
    """Where the storage may be (containers-storage.conf(5)): the default graph root, and any that a storage.conf
    names (`graphroot`, `rootless_storage_path`, read as plain lines: best effort, like Podman's own defaults)."""
    if os.geteuid() == 0:
        roots = ["/var/lib/containers/storage"]
    else:
        data = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
        roots = [os.path.join(data, "containers", "storage")]
    for key, value in _assignments(storage_conf, b"root"):
        if key in (b"graphroot", b"rootless_storage_path"):
            root = os.fsdecode(value.strip(b"\"'"))
            roots.append(os.path.expanduser(root.replace("$UID", str(os.geteuid()))
                                            .replace("$HOME", os.path.expanduser("~"))))
    return roots


def _user_config() -> str:
    return os.path.join(os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config"), "containers")


def _drop_ins(directory: str) -> list[str]:
    try:
        return sorted(os.path.join(directory, name) for name in os.listdir(directory) if name.endswith(".conf"))
    except OSError:
        return []


def _signature(path: str) -> str | None:
    """What changes when the file is edited or replaced (an upgrade, a rename into place); None when it is
    missing."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return f"{status.st_dev} {status.st_ino} {status.st_size} {status.st_mtime_ns} {status.st_ctime_ns}"


def _remote(conf: list[str]) -> bool:
    """Whether containers.conf makes `podman` a remote client (`[engine] remote = true`: the only table with
    that key)."""
    return any(key == b"remote" and value == b"true" for key, value in _assignments(conf, b"remote"))


def _assignments(paths: list[str], word: bytes) -> Iterator[tuple[bytes, bytes]]:
    """Each `key = value` line (comment cut) of the files that hold `word` at all: Podman's TOML read as plain
    lines, best effort (a TOML parser or a regular expression would cost every launch its import or compilation).
    Missing files and drop-in folders are passed over."""
    for path in paths:
        try:
            with open(path, "rb") as file:
                text = file.read()
        except OSError:
            continue
        for line in text.splitlines() if word in text else ():
            key, equals, value = line.partition(b"=")
            if equals:
                yield key.strip(), value.partition(b"#")[0].strip()


def _runtime_directory() -> str | None:
    """XDG_RUNTIME_DIR when it is this user's directory (root without one: /run); None otherwise (rootless
    Podman without it: its client finds its own way)."""
    uid = os.geteuid()
    base = os.environ.get("XDG_RUNTIME_DIR") or ("/run" if uid == 0 else "")
    try:
        status = os.stat(base) if base else None
    except OSError:
        return None
    return base if status is not None and status.st_uid == uid and stat.S_ISDIR(status.st_mode) else None
