"""Docker and Podman behind one small interface (see base.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from .. import platforms
from ..errors import EXIT_ENGINE_UNAVAILABLE, AishellError
from . import unix_http
from .base import Engine
from .docker import Docker
from .podman import Podman

ENGINES: dict[str, type[Engine]] = {"docker": Docker, "podman": Podman}


def engine_answers(name: str, *, quick: bool = False) -> bool:
    """Whether the engine works. `quick` trusts an installed Podman: it has no daemon to ask, and
    `podman info` costs 0.1 to 0.3 s of every launch; a launch that fails asks thoroughly then."""
    platforms.use_vm_engine()  # macOS: the Lima VM's engine, found without flags (platforms/macos.py)
    if shutil.which(name) is None:
        return False
    if name == "docker" and (socket := _local_docker_socket()):
        return _pings(socket)
    if quick and name == "podman":
        return True
    try:
        return subprocess.run([name, "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def answering() -> list[Engine]:
    """Every engine on this machine that answers, Docker first (for commands that look at all of ours)."""
    return [engine() for name, engine in ENGINES.items() if engine_answers(name)]


def choose_engine(setting: str) -> Engine:
    """The engine named by settings, or for `auto` the first that answers (Docker, then Podman)."""
    candidates = ["docker", "podman"] if setting == "auto" else [setting]
    for name in candidates:
        if engine_answers(name, quick=True):
            return ENGINES[name]()
    raise unavailable("Docker or Podman" if setting == "auto" else setting)


def unavailable(wanted: str) -> AishellError:
    """The error for an engine that does not answer, with the engine's own reason when it gives one."""
    reason = _info_error(wanted) if wanted in ENGINES else ""
    hint = "run `sudo aishell-run bootstrap` (or start the engine), then try again"
    if "podman system migrate" in reason:
        # Podman's pause process is gone but its runtime directory is not (a restart that kept /run).
        hint = "run `podman system migrate` (it restarts Podman's pause process; images stay), then try again"
    return AishellError(f"{wanted} does not answer on this machine" + (f" ({reason})" if reason else ""),
                        hint=hint, exit_code=EXIT_ENGINE_UNAVAILABLE)


def _info_error(name: str) -> str:
    """The last line `NAME info` writes to stderr, without its logger's time and level fields."""
    try:
        run = subprocess.run([name, "info"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    lines = [line for line in run.stderr.splitlines() if line.strip()] if run.returncode else []
    if not lines:
        return ""
    last = lines[-1]
    message = re.search(r'msg="((?:[^"\\]|\\.)*)"', last)  # logrus: time=... level=error msg="..."
    return message.group(1).replace('\\"', '"') if message else last.strip()


def _local_docker_socket() -> str | None:
    """The daemon's socket when the client would use the default one (no DOCKER_HOST, no context)."""
    host = os.environ.get("DOCKER_HOST", "")
    if os.environ.get("DOCKER_CONTEXT") or (host and not host.startswith("unix://")):
        return None
    config = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"
    if config.is_file() and '"currentContext"' in config.read_text(errors="replace"):
        return None  # a context may point anywhere: let `docker info` follow it
    return host.removeprefix("unix://") or "/var/run/docker.sock"


def _pings(path: str) -> bool:
    """Docker's /_ping over its socket: the answer `docker info` would give, without starting a client (~20 ms)."""
    try:
        return unix_http.get(path, "/_ping", timeout=5)[0] == 200
    except (OSError, ValueError):
        return False
