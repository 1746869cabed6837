"""Docker and Podman behind one small interface (see base.py)."""

from __future__ import annotations

import shutil
import subprocess

from ..errors import EXIT_ENGINE_UNAVAILABLE, AishellError
from .base import Engine
from .docker import Docker
from .podman import Podman

ENGINES: dict[str, type[Engine]] = {"docker": Docker, "podman": Podman}


def engine_answers(name: str) -> bool:
    if shutil.which(name) is None:
        return False
    try:
        return subprocess.run([name, "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def choose_engine(setting: str) -> Engine:
    """The engine named by settings, or for `auto` the first that answers (Docker, then Podman)."""
    candidates = ["docker", "podman"] if setting == "auto" else [setting]
    for name in candidates:
        if engine_answers(name):
            return ENGINES[name]()
    wanted = "Docker or Podman" if setting == "auto" else setting
    raise AishellError(
        f"{wanted} does not answer on this machine",
        hint="run `sudo aishell-run bootstrap` (or start the engine), then try again",
        exit_code=EXIT_ENGINE_UNAVAILABLE,
    )
