"""Schema violations explained in words: the key, the line, what is wrong and what to write instead."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

import yaml

from aishell_runner.settings.checks import check_for
from aishell_runner.settings.model import KeyPath, _format_path, _show
from aishell_runner.settings.schema import _KEY_PATHS, _fingerprint, _known_valid, _remember_valid, _validator

if TYPE_CHECKING:
    import jsonschema

    from aishell_runner.settings.layers import _Layer


# --------------------------------------------------------------------------------------------------- schema errors

_TYPE_NAMES = {
    "object": "a mapping of keys",
    "array": "a list",
    "string": "text",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "null": "nothing",
}


def _kind(value: Any) -> str:
    """How a YAML value reads to a person: "a list", "a number", ..."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {_show(value)}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def _validate_schema(layer: _Layer) -> None:
    """Raise the first schema violation in document order, in words rather than raw jsonschema text."""
    fingerprint = _fingerprint(layer.data)
    if _known_valid(fingerprint):
        return
    found = []
    for error in _validator().iter_errors(layer.data):
        path, problem, hint = _explain(layer, error)
        line = layer.node_at(path)[1] or 0
        found.append((line, len(path), path, problem, hint))
    if found:
        _, _, path, problem, hint = min(found, key=lambda item: item[:2])
        raise layer.error(path, problem, hint)
    _remember_valid(fingerprint)


def _explain(layer: _Layer, error: jsonschema.ValidationError) -> tuple[KeyPath, str, str | None]:
    path, problem, hint = _explain_plainly(layer, error)
    # Failing a better hint, the schema's own description says what the key is for.
    return path, problem, hint or error.schema.get("description")


def _explain_plainly(layer: _Layer, error: jsonschema.ValidationError) -> tuple[KeyPath, str, str | None]:
    path: KeyPath = tuple(error.absolute_path)
    value = error.instance
    if error.validator == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        unknown = next(key for key in value if key not in allowed)
        return (*path, unknown), *_unknown_key(unknown, allowed, path)
    if error.validator == "type":
        expected = error.validator_value
        wanted = _TYPE_NAMES.get(expected, str(expected)) if isinstance(expected, str) else "a valid value"
        hint = None
        if expected == "string" and isinstance(value, int | float | bool):
            node = layer.node_at(path)[0]
            written = node.value if isinstance(node, yaml.ScalarNode) else str(value)
            hint = f'put the value in quotes so YAML keeps it as text: "{written}"'
        elif value is None:
            hint = "give it a value, or remove the key"
        elif expected == "object":
            hint = "write the keys indented under it, one per line"
        elif expected == "array":
            hint = "write each item on its own line starting with '- '"
        return path, f"expected {wanted}, got {_kind(value)}", hint
    if error.validator == "enum":
        choices = [str(choice) for choice in error.validator_value]
        problem = f"{_show(value)} is not one of: {', '.join(choices)}"
        close = difflib.get_close_matches(str(value), choices, n=1)
        if close:
            problem += f"; did you mean '{close[0]}'?"
        return path, problem, f"use one of: {', '.join(choices)}"
    if error.validator == "pattern":
        check = check_for(path)
        explained = check(value) if check else None
        if explained:
            return path, *explained
        return path, f"{_show(value)} is not in the expected form", None
    if error.validator in ("exclusiveMinimum", "minimum"):
        bound = error.validator_value
        relation = "greater than" if error.validator == "exclusiveMinimum" else "at least"
        return path, f"must be {relation} {bound}, got {_kind(value)}", None
    if error.validator == "minLength":
        return path, "must not be empty", "give it a value, or remove the item"
    if error.validator == "minItems":
        return path, f"needs at least {error.validator_value} item", "list one or more, or remove the key"
    if error.validator == "required":
        missing = [key for key in error.validator_value if key not in value]
        return path, f"missing the key {_show(missing[0])}", f"give it {', '.join(missing)} (required here)"
    if error.validator == "dependentRequired":
        key = next(name for name, needs in error.validator_value.items()
                   if name in value and any(need not in value for need in needs))
        needed = [need for need in error.validator_value[key] if need not in value]
        return (*path, key), f"{key} needs {' and '.join(needed)} too", f"add {', '.join(needed)}, or remove {key}"
    return path, error.message, None


def _unknown_key(unknown: str, allowed: list[str], path: KeyPath) -> tuple[str, str]:
    problem = f"unknown key {_show(unknown)}"
    close = difflib.get_close_matches(unknown, allowed, n=1)
    elsewhere = [where for where in _KEY_PATHS.get(unknown, []) if where.rsplit(".", 1)[0] != _format_path(path)]
    if close:
        problem += f"; did you mean '{close[0]}'?"
    elif elsewhere:
        problem += f"; did you mean '{elsewhere[0]}'?"
    known = ", ".join(allowed) if allowed else "none (this key takes no sub-keys)"
    return problem, f"keys allowed here: {known}"


