"""One settings file read as a layer: YAML with line numbers for every key (where the files are: files.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from aishell_runner.settings.aishell_forms import translate
from aishell_runner.settings.explain import _kind, _validate_schema
from aishell_runner.settings.files import (  # noqa: F401 (where the files are: importers find them here too)
    AISHELL_USER_CONFIG,
    DEFAULT_DOCKERFILE,
    PROJECT_CONFIG,
    SYSTEM_CONFIG,
    _exists,
    _home,
    default_user_file,
)
from aishell_runner.settings.model import KeyPath, SettingsError, _format_path, _show

# --------------------------------------------------------------------------------------------------- layers


def _line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None and node.start_mark is not None else None


@dataclass
class _Layer:
    """One settings file: its data and its YAML node tree, kept to turn key paths into line numbers."""

    path: Path
    data: dict[str, Any]
    root: yaml.Node | None
    # Native key paths made from aishell's forms (aishell_forms.py) -> the path written in the file.
    aliases: dict[KeyPath, KeyPath] = field(default_factory=dict)
    extends: str | None = None

    def written(self, path: KeyPath) -> KeyPath:
        """Where `path` (of the layer's data) is written in the file."""
        for cut in range(len(path), 0, -1):
            alias = self.aliases.get(path[:cut])
            if alias is not None:
                rest = path[cut:]
                # A value made from a scalar (a glob, a docker_args flag) has no inner nodes.
                node = self._walk(alias)
                return alias + rest if isinstance(node, yaml.MappingNode | yaml.SequenceNode) else alias
        return path

    def node_at(self, path: KeyPath) -> tuple[yaml.Node | None, int | None]:
        """The node for `path` (None when it is not in this file) and the best line for it."""
        return self._walk(self.written(path), with_line=True)

    def _walk(self, path: KeyPath, with_line: bool = False) -> Any:
        node = self.root
        line = _line(node)
        for step in path:
            child = None
            if isinstance(node, yaml.MappingNode) and isinstance(step, str):
                # Last match: YAML keeps the last of repeated keys (and merged `<<` keys come first).
                for key_node, value_node in reversed(node.value):
                    if isinstance(key_node, yaml.ScalarNode) and key_node.value == step:
                        child, line = value_node, _line(key_node)
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
                child = node.value[step]
                line = _line(child)
            if child is None:
                return (None, line) if with_line else None
            node = child
        return (node, line) if with_line else node

    def error(self, path: KeyPath, problem: str, hint: str | None = None) -> SettingsError:
        return SettingsError(problem, hint, file=self.path, line=self.node_at(path)[1],
                             key=_format_path(self.written(path)))


def _read_layer(path: Path, refuse: Callable[[_Layer], None] | None = None) -> _Layer | None:
    """Parse one file, or None when it does not exist. Raises SettingsError for anything malformed; `refuse`
    (the keys a project may not set) runs before the schema, so a refused key is refused whatever its value."""
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        raise SettingsError(
            f"cannot read this settings file: {exc.strerror or exc}",
            "check that it is a readable file",
            file=path,
        ) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SettingsError(
            "the file is not UTF-8 text", "save it as UTF-8", file=path, line=raw[: exc.start].count(b"\n") + 1
        ) from exc
    try:
        root, data = _parse_yaml(text, path)
    except RecursionError as exc:
        raise SettingsError("the file is nested too deeply", "flatten the structure", file=path) from exc
    if data is None:  # empty, or only comments
        data = {}
    layer = _Layer(path, data, root)
    if not isinstance(data, dict):
        raise layer.error(
            (),
            f"the top level must be a mapping of keys (like 'harness: claude'), not {_kind(data)}",
            "start the file with keys such as 'engine:' or 'mounts:'",
        )
    translated = translate(data, layer.error)  # aishell's forms, as native keys
    layer.data, layer.aliases, layer.extends = translated.data, translated.aliases, translated.extends
    if refuse is not None:
        refuse(layer)
    _validate_schema(layer)
    return layer


def _compose_and_construct(text: str, path: Path) -> tuple[yaml.Node | None, Any]:
    """The node tree (for line numbers) and the data, from one parse."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return None, None
        # Check keys on the composed tree before construction: construction flattens `<<` merges in place,
        # which would make legitimate overrides look like repeated keys.
        _check_nodes(root, path)
        return root, loader.construct_document(root)
    finally:
        loader.dispose()


def _parse_yaml(text: str, path: Path) -> tuple[yaml.Node | None, Any]:
    try:
        return _compose_and_construct(text, path)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = ": ".join(part for part in (exc.context, exc.problem) if part) or "syntax error"
        raise SettingsError(
            f"this is not valid YAML: {problem}",
            "check the indentation and quoting on that line and the one before it",
            file=path,
            line=mark.line + 1 if mark else None,
        ) from exc
    except yaml.reader.ReaderError as exc:
        raise SettingsError(
            f"this is not valid YAML: it contains a character YAML does not allow ({exc.character!r})",
            "remove the control character",
            file=path,
            line=text[: exc.position].count("\n") + 1,
        ) from exc
    except yaml.YAMLError as exc:
        raise SettingsError(f"this is not valid YAML: {exc}", file=path) from exc


_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _check_nodes(root: yaml.Node, path: Path) -> None:
    """Reject what JSON-like settings cannot hold: non-text keys, repeated keys, self-referencing aliases, NUL."""
    done: set[int] = set()
    active: set[int] = set()

    def fail(node: yaml.Node, problem: str, hint: str) -> SettingsError:
        return SettingsError(problem, hint, file=path, line=_line(node))

    def visit(node: yaml.Node) -> None:
        if id(node) in active:
            raise fail(node, "an alias refers to the block that contains it", "remove the recursive '*' alias")
        if id(node) in done:  # an alias to a block already checked
            return
        active.add(id(node))
        if isinstance(node, yaml.ScalarNode) and "\x00" in node.value:
            raise fail(node, "a value contains a NUL character", "remove the \\0 escape")
        if isinstance(node, yaml.SequenceNode):
            for item in node.value:
                visit(item)
        elif isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE_TAG:
                    visit(value_node)
                    continue
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR_TAG:
                    shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "a list or mapping"
                    raise fail(
                        key_node,
                        f"the key {_show(shown)} is not text",
                        "keys are names such as 'harness'; quote the key if it must look like a number",
                    )
                if key_node.value in seen:
                    raise fail(
                        key_node,
                        f"the key {_show(key_node.value)} appears twice in the same mapping",
                        "keep one of them",
                    )
                seen.add(key_node.value)
                visit(key_node)
                visit(value_node)
        active.discard(id(node))
        done.add(id(node))

    visit(root)
