"""Layers merged, nearest wins: maps recursively, lists concatenated, each value remembering its layer."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aishell_runner.settings.model import KeyPath, SettingsError, _format_path

if TYPE_CHECKING:
    from aishell_runner.settings.layers import _Layer


# --------------------------------------------------------------------------------------------------- merge


@dataclass
class _Merged:
    """The merged mapping plus, for each key path, the file (and path in it) that set it, for error lines."""

    data: dict[str, Any]
    origins: dict[KeyPath, tuple[_Layer, KeyPath]]

    def error(self, path: KeyPath, problem: str, hint: str | None = None) -> SettingsError:
        for cut in range(len(path), 0, -1):
            origin = self.origins.get(path[:cut])
            if origin is not None:
                layer, layer_path = origin
                inner = layer_path + path[cut:]
                written = layer.written(inner)
                return SettingsError(
                    problem,
                    hint,
                    file=layer.path,
                    line=layer.node_at(inner)[1],
                    key=_format_path(path if written == inner else written),
                )
        return SettingsError(problem, hint, key=_format_path(path))


def _merge(layers: list[_Layer]) -> _Merged:
    merged = _Merged({}, {})
    for layer in layers:  # farthest first, so nearer layers overwrite
        _overlay(merged, merged.data, layer.data, layer, ())
    return merged


def _overlay(merged: _Merged, target: dict[str, Any], incoming: dict[str, Any], layer: _Layer, path: KeyPath) -> None:
    # Dicts only merge at dict positions, so a key path here is the same in the layer's own file; only list
    # items move (their index is shifted by the items of farther layers).
    for key, value in incoming.items():
        here = (*path, key)
        current = target.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            merged.origins[here] = (layer, here)
            _overlay(merged, current, value, layer, here)
        elif isinstance(current, list) and isinstance(value, list):
            for index, item in enumerate(value):
                merged.origins[(*here, len(current))] = (layer, (*here, index))
                current.append(copy.deepcopy(item))
        else:
            for stale in [known for known in merged.origins if known[: len(here)] == here]:
                del merged.origins[stale]
            target[key] = copy.deepcopy(value)
            _record(merged, value, layer, here)


def _record(merged: _Merged, value: Any, layer: _Layer, path: KeyPath) -> None:
    """`path` and everything inside it came from `layer` (so a nearer layer merging into it later does
    not take the origin of what it did not set)."""
    merged.origins[path] = (layer, path)
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        _record(merged, child, layer, (*path, key))


