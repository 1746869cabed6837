"""Where the project's playbooks live and where runs keep their state."""

from __future__ import annotations

import os
from pathlib import Path


def project_root() -> Path:
    """The directory holding playbooks/, roles/ and inventories/."""
    override = os.environ.get("AISHELL_RUN_HOME")
    return Path(override) if override else Path(__file__).resolve().parent.parent


def state_dir() -> Path:
    """XDG state directory: run artifacts, logs."""
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "aishell"


def cache_dir() -> Path:
    """XDG cache directory: results that can be recomputed (validated settings, scan results)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "aishell"
