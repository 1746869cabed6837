"""The entry point: read the system, user and project layers of a project, merge them and build the Settings."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from aishell_runner.settings import cache
from aishell_runner.settings.files import PROJECT_CONFIG, SYSTEM_CONFIG, _home, default_user_file
from aishell_runner.settings.model import Settings, _format_path

if TYPE_CHECKING:
    from aishell_runner.settings.build import _Context
    from aishell_runner.settings.layers import _Layer
    from aishell_runner.settings.merge import _Merged

# --------------------------------------------------------------------------------------------------- entry point



def load_settings(
    project: Path,
    *,
    system_file: Path | None = None,
    user_file: Path | None = None,
    allow_risky_mounts: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read, merge and check the system, user and project settings for `project`. The usual layers of this
    process's environment come from the cache when nothing they depend on changed (cache.py)."""

    def build() -> Settings:
        from aishell_runner.settings.build import _build

        merged, context, layers = _load(project, system_file=system_file, user_file=user_file,
                                        allow_risky_mounts=allow_risky_mounts, environ=environ)
        return _build(merged, context, tuple(layer.path for layer in layers))

    if system_file is None and user_file is None and environ is None:
        return cache.remembered(Path(os.path.abspath(project)), allow_risky_mounts, os.environ, build)
    return build()


def _load(project: Path, *, system_file: Path | None, user_file: Path | None, allow_risky_mounts: bool,
          environ: Mapping[str, str] | None) -> tuple[_Merged, _Context, list[_Layer]]:
    """The layers of `project`, read and merged (locks applied): what load_settings builds from, and what
    origins.py explains."""
    from aishell_runner.image_defaults import agent_versions
    from aishell_runner.settings.build import _Context
    from aishell_runner.settings.layers import _read_layer
    from aishell_runner.settings.locks import enforce_locks
    from aishell_runner.settings.merge import _merge

    environ = os.environ if environ is None else environ
    project = Path(os.path.abspath(project))
    candidates = [
        SYSTEM_CONFIG if system_file is None else Path(system_file),
        default_user_file(environ) if user_file is None else Path(user_file),
        project / PROJECT_CONFIG,
    ]
    # The same file reached twice (say a project in ~/.config) is read once, as its nearest layer, so its
    # lists are not doubled.
    unique: list[Path] = []
    for path in reversed(candidates):
        if os.path.realpath(path) not in {os.path.realpath(seen) for seen in unique}:
            unique.insert(0, path)
    read = (_read_layer(path, _refuse_project_only_keys if path == project / PROJECT_CONFIG else None)
            for path in unique)
    layers = [layer for layer in read if layer is not None]
    project_layer = next((layer for layer in layers if layer.path == project / PROJECT_CONFIG), None)
    layers = _apply_extends(layers, project_layer, candidates[1])
    runtime_dir = environ.get("XDG_RUNTIME_DIR")
    context = _Context(
        project=project,
        home=Path(os.path.normpath(_home(environ))),
        runtime_dir=Path(runtime_dir) if runtime_dir and os.path.isabs(runtime_dir) else None,
        allow_risky_mounts=allow_risky_mounts,
    )
    merged = _merge(layers)
    if any("locks" in layer.data for layer in layers):  # the system layer's locks: see locks.py
        enforce_locks(layers, merged, candidates[0], agent_versions)
    return merged, context, layers


def _apply_extends(layers: list[_Layer], project_layer: _Layer | None, user_file: Path) -> list[_Layer]:
    """aishell's `extends`, only in a project's settings: none leaves the user layer out (never the system
    one: its locks hold for every project)."""
    for layer in layers:
        if layer.extends is not None and layer is not project_layer:
            raise layer.error(("extends",), "extends is only for a project's settings (.aishell/config.yaml)",
                              "remove it: system and user settings always apply")
    if project_layer is not None and project_layer.extends == "none":
        return [layer for layer in layers if layer is project_layer
                or os.path.realpath(layer.path) != os.path.realpath(user_file)]
    return layers


# Keys a project's own settings may not set, each with why: a cloned repository must not open the user's
# network, nor choose where the user's keys are sent. "*" is any agent.
PROJECT_REFUSED: dict[tuple[str, ...], str] = {
    ("network", "internal_hosts"): "a project's settings cannot name internal hosts for the proxy to reach",
    ("agents", "*", "upstream"): "a project's settings cannot choose where an agent's API requests (and your "
                                 "credential) are sent",
    ("credentials",): "a project's settings cannot declare credentials or choose the hosts they are sent to",
}


def _refuse_project_only_keys(project_layer: _Layer) -> None:
    """Refuse the first key of PROJECT_REFUSED that a project's own settings set (read before the schema
    checks them: whatever the value, the key is not for a project)."""
    from aishell_runner.settings.checks import _values_at

    for pattern, problem in PROJECT_REFUSED.items():
        for path, _ in _values_at(project_layer.data, pattern, ()):
            if not all(isinstance(step, str) for step in path):  # a list where a mapping goes: the schema says so
                continue
            raise project_layer.error(path, problem, f"put {_format_path(path)} in ~/.config/aishell/config.yaml "
                                                     "or /etc/aishell/config.yaml")


