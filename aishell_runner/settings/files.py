"""Where the settings files are: the three layers' paths, without reading any of them (no YAML here)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

SYSTEM_CONFIG = Path("/etc/aishell/config.yaml")
PROJECT_CONFIG = Path(".aishell/config.yaml")
AISHELL_USER_CONFIG = Path(".aishell/config.yaml")  # aishell's user file, under the home directory
DEFAULT_DOCKERFILE = Path(".aishell/Dockerfile")


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # e.g. a name too long for the file system
        return False


def user_file_candidates(environ: Mapping[str, str]) -> tuple[Path, Path]:
    """The user layer's two places: the XDG file, and aishell's ~/.aishell/config.yaml."""
    # The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
    config_home = environ.get("XDG_CONFIG_HOME", "")
    base = Path(config_home) if os.path.isabs(config_home) else _home(environ) / ".config"
    return base / "aishell" / "config.yaml", _home(environ) / AISHELL_USER_CONFIG


def default_user_file(environ: Mapping[str, str]) -> Path:
    """The XDG file, or aishell's ~/.aishell/config.yaml when only that one exists."""
    xdg, aishell = user_file_candidates(environ)
    return aishell if not _exists(xdg) and _exists(aishell) else xdg


def _home(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("HOME") or os.path.expanduser("~"))
