"""The sandbox_image role's own YAML (defaults/, vars/), read without importing settings or images.

images.py builds on it; settings' locks get the default agent versions from it through their caller
(settings/load.py), so settings and images do not import each other.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from .cache_files import save_json
from .errors import AishellError
from .paths import cache_dir, install_root


def role_dir() -> Path:
    return install_root() / "roles" / "sandbox_image"


def role_yaml(name: str) -> dict[str, Any]:
    return _read_yaml(role_dir() / name)


@functools.cache  # read once a process (a launch asks several times); callers copy what they change
def _read_yaml(path: Path) -> dict[str, Any]:
    """The file's data; parsed once for each version of the file, then kept as JSON in the cache directory (a
    launch need not import the YAML parser for the role's unchanged defaults)."""
    text = path.read_bytes()
    digest = hashlib.sha256(str(path).encode() + b"\0" + text).hexdigest()
    kept = cache_dir() / "role-yaml" / f"{digest[:32]}.json"
    try:
        return json.loads(kept.read_bytes())
    except (OSError, ValueError):
        pass
    import yaml  # here: only when the file changed

    data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    with contextlib.suppress(TypeError, ValueError):  # not JSON's: parsed again next time
        save_json(kept, data)
    return data


def agent_versions() -> dict[str, Any]:
    """The agent versions the image gets when no layer pins one; {} when no role is next to this installation."""
    try:
        return dict(role_yaml("defaults/main.yml").get("sandbox_image_agents") or {})
    except (OSError, AishellError):  # no role next to this installation: nothing known to check
        return {}
