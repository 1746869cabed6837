"""Where the project's playbooks live and where runs keep their state."""

from __future__ import annotations

import importlib.util
import os
from functools import cache
from pathlib import Path
from types import ModuleType


def install_root() -> Path:
    """Where aishell-run's playbooks/, roles/ and inventories/ are installed (the checkout, for now)."""
    override = os.environ.get("AISHELL_RUN_HOME")
    return Path(override) if override else Path(__file__).resolve().parent.parent


def state_dir() -> Path:
    """XDG state directory: run artifacts, logs."""
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "aishell"


def data_dir() -> Path:
    """XDG data directory: what must last (the agents' sandbox profiles)."""
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "aishell"


def cache_dir() -> Path:
    """XDG cache directory: results that can be recomputed (validated settings, scan results)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "aishell"


@cache
def role_plugin(role: str, filename: str) -> ModuleType:
    """A role's filter plugin, loaded as a module: the CLI uses the role's own rules, so the two agree."""
    path = install_root() / "roles" / role / "filter_plugins" / filename
    spec = importlib.util.spec_from_file_location(f"aishell_{role}_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
