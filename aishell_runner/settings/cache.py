"""Built settings remembered between launches, keyed by everything that building them read.

Reading the layers costs a launch more in imports (the YAML parser, the schema, the builder) than in work.
So a project's built `Settings` is kept (pickled, in the user's cache directory, 0600) beside a key of what
the build read, and the next load with the same key takes it instead:

- each layer's file, by path and stat (inode, size, mtime, ctime), or its absence; the user layer's two
  candidates (XDG's and aishell's ~/.aishell/config.yaml) both, since which one counts depends on both;
- the variables the layers' paths and the build read (HOME, XDG_CONFIG_HOME, XDG_RUNTIME_DIR), the
  project's path, --allow-risky-mounts, and aishell-run's own version and settings code (by stat);
- the agent versions the system layer's locks compare against (the sandbox_image role's defaults, by stat);
- what the build found on disk, kept with the entry and looked at again: for every path it checked (the
  home, each mount's source, the Dockerfile, the CA bundle, the project's .aishell/Dockerfile), whether it
  exists and where it really leads. A mount source retargeted at ~/.ssh makes the next load build again,
  and its checks refuse it.

Settings that fail to build are never kept: their error shows at every launch.
"""

from __future__ import annotations

import _pickle as pickle  # pickle's C implementation, without the pure-Python module's imports
import contextlib
import hashlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from .. import __version__
from ..cache_files import save
from ..paths import cache_dir, install_root
from .files import DEFAULT_DOCKERFILE, PROJECT_CONFIG, SYSTEM_CONFIG, _home, user_file_candidates
from .model import Settings

FORMAT = 1
ENVIRONMENT = ("HOME", "XDG_CONFIG_HOME", "XDG_RUNTIME_DIR")


def _stat(path: Path | str) -> list[int] | None:
    try:
        found = os.stat(path)
    except (OSError, ValueError):
        return None
    return [found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns]


def _leads_to(path: Path | str) -> str | None:
    """Where `path` really leads when it exists, else None."""
    try:
        return os.path.realpath(path) if os.path.exists(path) else None
    except (OSError, ValueError):
        return None


def _key(project: Path, allow_risky_mounts: bool, environ: Mapping[str, str]) -> str:
    code = os.path.dirname(__file__)
    files = [SYSTEM_CONFIG, *user_file_candidates(environ), project / PROJECT_CONFIG,
             install_root() / "roles" / "sandbox_image" / "defaults" / "main.yml",
             *(os.path.join(code, name) for name in sorted(os.listdir(code)) if name.endswith(".py")),
             os.path.join(code, "..", "agents.py"), os.path.join(code, "..", "image_defaults.py")]
    inputs = [FORMAT, __version__, str(project), allow_risky_mounts, [environ.get(name) for name in ENVIRONMENT],
              [(str(path), _stat(path)) for path in files]]
    return hashlib.sha256(repr(inputs).encode()).hexdigest()


def _looked_at(settings: Settings, project: Path, home: Path) -> list[tuple[str, str | None]]:
    """The paths the build checked on disk, each with where it leads (None: missing)."""
    paths = [home, project / DEFAULT_DOCKERFILE, *(mount.source for mount in settings.mounts)]
    paths += [settings.image.dockerfile] if settings.image.dockerfile else []
    paths += [settings.image.ca_bundle] if settings.image.ca_bundle not in ("auto", "none") else []
    return [(str(path), _leads_to(path)) for path in paths]


def remembered(project: Path, allow_risky_mounts: bool, environ: Mapping[str, str],
               build: Callable[[], Settings]) -> Settings:
    """The settings `build` would make for `project`: the kept ones when nothing they depend on changed."""
    key = _key(project, allow_risky_mounts, environ)
    entry = cache_dir() / "settings" / f"{hashlib.sha256(str(project).encode()).hexdigest()[:32]}.pickle"
    kept = _read(entry)
    if (isinstance(kept, dict) and kept.get("key") == key and isinstance(kept.get("settings"), Settings)
            and all(_leads_to(path) == leads for path, leads in kept.get("looked_at", ()))):
        return kept["settings"]
    settings = build()
    _write(entry, {"key": key, "settings": settings, "looked_at": _looked_at(settings, project, _home(environ))})
    return settings


def _read(entry: Path) -> object:
    try:
        with entry.open("rb") as file:
            found = os.fstat(file.fileno())
            # Only a file of this user's that nobody else may write: unpickling runs what the file says.
            if found.st_uid != os.getuid() or found.st_mode & 0o022:
                return None
            return pickle.load(file)
    except Exception:  # missing, damaged or of an older aishell-run (any error unpickling): built again
        return None


def _write(entry: Path, value: dict) -> None:
    with contextlib.suppress(pickle.PicklingError):  # not kept: the next launch builds again
        save(entry, pickle.dumps(value, protocol=5))
