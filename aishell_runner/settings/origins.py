"""Where each effective setting comes from: a file and line, a lock of the system layer, or the default.

`aishell-run settings` prints this; it builds the settings first, so whatever a launch would refuse is
refused here with the same message.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aishell_runner.settings.build import _build
from aishell_runner.settings.load import _load
from aishell_runner.settings.locks import _leaves, _lookup
from aishell_runner.settings.merge import _Merged
from aishell_runner.settings.model import KeyPath
from aishell_runner.settings.schema import SCHEMA

_MISSING = object()


@dataclass(frozen=True)
class Origin:
    key: str  # dotted, as in docs/settings.md and `locks:`
    value: Any
    source: str  # "FILE:LINE", one per list item, "default" or "not set"
    locked_by: str | None = None  # "FILE:LINE" of the lock that fixes it

    def as_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "from": self.source, "locked_by": self.locked_by}


def explain(project: Path, **options: Any) -> list[Origin]:
    """Every key the schema knows, in its order, with its effective value and origin."""
    merged, context, layers = _load(project, system_file=options.get("system_file"),
                                    user_file=options.get("user_file"),
                                    allow_risky_mounts=options.get("allow_risky_mounts", False),
                                    environ=options.get("environ"))
    _build(merged, context, tuple(layer.path for layer in layers))  # refuses what a launch would refuse
    system = next((layer for layer in layers if "locks" in layer.data), None)
    locks = (system.data.get("locks") or {}) if system else {}
    found = []
    for path, schema in _leaves(SCHEMA).items():
        key = ".".join(path)
        locked_by = f"{system.path}:{system.node_at(('locks', key))[1]}" if key in locks else None
        present, value = _lookup(merged.data, path)
        if not present:
            default = schema.get("default", _MISSING)
            found.append(Origin(key, None if default is _MISSING else default,
                                "not set" if default is _MISSING else "default", locked_by))
        else:
            found.append(Origin(key, value, _source(merged, path, value), locked_by))
    return found


def _where(merged: _Merged, path: KeyPath) -> str:
    """The file and line that set `path`: a layer that set a whole map or list set what is inside it."""
    for cut in range(len(path), 0, -1):
        origin = merged.origins.get(path[:cut])
        if origin is not None:
            layer, layer_path = origin
            return f"{layer.path}:{layer.node_at(layer_path + path[cut:])[1]}"
    return "default"


def _source(merged: _Merged, path: KeyPath, value: Any) -> str:
    if isinstance(value, list) and value:
        return ", ".join(_where(merged, (*path, index)) for index in range(len(value)))
    return _where(merged, path)

