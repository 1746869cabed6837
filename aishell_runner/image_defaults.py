"""The sandbox_image role's own YAML (defaults/, vars/), read without importing settings or images.

images.py builds on it; settings' locks get the default agent versions from it through their caller
(settings/load.py), so settings and images do not import each other.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from .errors import AishellError
from .paths import install_root


def role_dir() -> Path:
    return install_root() / "roles" / "sandbox_image"


def role_yaml(name: str) -> dict[str, Any]:
    return _read_yaml(role_dir() / name)


@functools.cache  # read once a process (a launch asks several times); callers copy what they change
def _read_yaml(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}


def agent_versions() -> dict[str, Any]:
    """The agent versions the image gets when no layer pins one; {} when no role is next to this installation."""
    try:
        return dict(role_yaml("defaults/main.yml").get("sandbox_image_agents") or {})
    except (OSError, AishellError):  # no role next to this installation: nothing known to check
        return {}
