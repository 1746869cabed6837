"""Locks: keys the system settings layer fixes, so that user and project settings cannot loosen them.

A team writes its policy to /etc/aishell/config.yaml (playbooks/fleet.yml does) and locks the keys that
matter, each by its dotted key path, each with exactly one rule and an optional reason:

    locks:
      network.mode: {one_of: [allowlist, none], reason: agents reach only the team's allowlist}
      security.seccomp: {value: default}
      security.add_capabilities: {at_most: []}
      resources.pids: {at_most: 2048}
      exclude: {at_least: [.env, "*.pem", secrets/]}
      agents.claude.version: {versions: ">=2.1.300,<2.2"}

  value     the key is this value (whatever the layers say, it is applied)
  one_of    the key is one of these values; when no layer sets it, the first
  at_most   a number or memory size: not above it (when no layer sets it, the bound itself);
            a list: only these items
  at_least  a list: these items are always in it (lists only grow, so no layer can remove them)
  versions  a version key: inside this range of PEP 440 specifiers; "" (the agent left out) is allowed

Only the system layer may hold `locks:`. A layer (the system's own included) that sets a locked key
outside its rule is refused with a `LockedKeyError`: that file, line and key, and the lock's own file,
line and rule. Locks work on key paths, not on particular keys, so any key the schema knows can be
locked.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aishell_runner.errors import EXIT_REFUSED
from aishell_runner.image_defaults import agent_versions
from aishell_runner.settings.checks import MEMORY_PATTERN
from aishell_runner.settings.layers import _Layer, _read_layer
from aishell_runner.settings.merge import _merge, _Merged
from aishell_runner.settings.model import KeyPath, SettingsError, _format_path, _show
from aishell_runner.settings.schema import SCHEMA, _validator

# The agent versions the image gets when no layer pins one (image_defaults.agent_versions): asked only
# when a `versions` lock meets an agent no layer pins.
DefaultVersions = Callable[[], Mapping[str, Any]]

RULES = ("value", "one_of", "at_most", "at_least", "versions")
# Which rules make sense for which kind of key (the leaf's JSON-schema type).
SCALARS = ("string", "number", "integer", "boolean")
RULES_FOR = {
    "value": SCALARS,
    "one_of": SCALARS,
    "at_most": ("number", "integer", "memory", "array"),
    "at_least": ("array",),
    "versions": ("version",),
}
_MEMORY_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


class LockedKeyError(SettingsError):
    """A settings file tries to loosen a key that the system layer locks (refused by policy)."""

    exit_code = EXIT_REFUSED


@dataclass(frozen=True)
class Lock:
    key: str  # the dotted path as written, e.g. network.mode
    path: tuple[str, ...]
    kind: str  # the leaf's kind: one of SCALARS, "array", "memory" or "version"
    rule: str
    bound: Any
    reason: str
    file: Path
    line: int | None

    def describe(self) -> str:
        """'/etc/aishell/config.yaml:12 locks network.mode to one of 'allowlist', 'none' (reason: ...)'."""
        words = {
            "value": lambda: f"to {_show(self.bound)}",
            "one_of": lambda: "to one of " + ", ".join(map(_show, self.bound)),
            "at_most": lambda: (f"to items among {', '.join(map(_show, self.bound)) or 'none'}"
                                if self.kind == "array" else f"to at most {_show(self.bound)}"),
            "at_least": lambda: "to always include " + ", ".join(map(_show, self.bound)),
            "versions": lambda: f"to versions {self.bound}",
        }[self.rule]()
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        reason = f" (reason: {self.reason})" if self.reason else ""
        return f"{where} locks {self.key} {words}{reason}"


def enforce_locks(layers: list[_Layer], merged: _Merged, system_file: Path, default_versions: DefaultVersions) -> None:
    """Refuse layers that loosen a lock of `system_file`'s layer, then apply the locks to `merged`; the caller
    says which agent versions the image gets by default (`default_versions`)."""
    system = next((layer for layer in layers if layer.path == system_file), None)
    for layer in layers:
        if layer is not system and "locks" in layer.data:
            raise layer.error(("locks",), "only the system settings file may lock keys",
                              f"move `locks:` to {system_file}, or remove it")
    if system is None:
        return
    for key, spec in (system.data.get("locks") or {}).items():
        lock = _parse(system, key, spec)
        for layer in layers:
            _check(lock, layer, system)
        _apply(lock, merged, system, default_versions)


# --------------------------------------------------------------------------------------------------- parse


def _leaves(schema: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], dict[str, Any]]:
    """Every lockable key path of the schema (the keys that hold values, not sub-keys) with its schema."""
    found: dict[tuple[str, ...], dict[str, Any]] = {}
    for name, sub in schema.get("properties", {}).items():
        path = (*prefix, name)
        if path == ("locks",):
            continue
        if sub.get("type") == "object" and "properties" in sub:
            found.update(_leaves(sub, path))
        else:
            found[path] = sub
    return found


_LEAVES = _leaves(SCHEMA)


def _kind(path: tuple[str, ...], schema: Mapping[str, Any]) -> str:
    if path[-1] == "version":
        return "version"
    if schema.get("pattern") == MEMORY_PATTERN:
        return "memory"
    return str(schema.get("type"))


def _parse(system: _Layer, key: str, spec: dict[str, Any]) -> Lock:
    where: KeyPath = ("locks", key)
    path = tuple(key.split("."))
    schema = _LEAVES.get(path)
    if schema is None:
        known = [".".join(leaf) for leaf in _LEAVES]
        close = difflib.get_close_matches(key, known, n=1)
        raise system.error(where, f"{_show(key)} is not a key that can be locked" +
                           (f"; did you mean '{close[0]}'?" if close else ""),
                           "lock a key that holds a value, by its dotted path, e.g. network.mode or resources.pids")
    rules = [rule for rule in RULES if rule in spec]
    if len(rules) != 1:
        raise system.error(where, f"a lock needs exactly one rule, found {len(rules)}",
                           f"give it one of: {', '.join(RULES)} (and, if you like, a reason)")
    rule = rules[0]
    kind = _kind(path, schema)
    if kind not in RULES_FOR[rule]:
        fitting = [name for name, kinds in RULES_FOR.items() if kind in kinds]
        raise system.error((*where, rule), f"{rule} does not apply to {key} ({_kind_words(kind)})",
                           f"rules for this key: {', '.join(fitting)}")
    bound = spec[rule]
    _check_bound(system, (*where, rule), path, kind, rule, bound)
    return Lock(key=key, path=path, kind=kind, rule=rule, bound=bound, reason=spec.get("reason", ""),
                file=system.path, line=system.node_at(where)[1])


def _kind_words(kind: str) -> str:
    return {"array": "a list", "memory": "a memory size", "version": "a version", "boolean": "true or false",
            "string": "text", "number": "a number", "integer": "a whole number"}.get(kind, kind)


def _check_bound(system: _Layer, where: KeyPath, path: tuple[str, ...], kind: str, rule: str, bound: Any) -> None:
    """The lock's own values must be valid values of the key (checked with the settings schema itself)."""
    if rule == "versions":
        from packaging.specifiers import InvalidSpecifier, SpecifierSet

        try:
            SpecifierSet(str(bound))
        except InvalidSpecifier:
            raise system.error(where, f"{_show(bound)} is not a version range",
                               'write PEP 440 specifiers, e.g. ">=2.1.300,<2.2"') from None
        return
    if rule == "one_of":
        if not isinstance(bound, list) or not bound:
            raise system.error(where, "one_of needs a list of allowed values", "e.g. one_of: [allowlist, none]")
        candidates = [(item, (*where, index)) for index, item in enumerate(bound)]
    elif kind == "array":
        if not isinstance(bound, list):
            raise system.error(where, f"{rule} on {'.'.join(path)} needs a list", f"e.g. {rule}: [.env]")
        candidates = [([item], (*where, index)) for index, item in enumerate(bound)]
    else:
        candidates = [(bound, where)]
    for value, at in candidates:
        document: Any = value
        for step in reversed(path):
            document = {step: document}
        error = next(iter(_validator().iter_errors(document)), None)
        if error is not None:
            raise system.error(at, f"{_show(value)} is not a valid value for {'.'.join(path)}: {error.message}",
                               error.schema.get("description"))


# --------------------------------------------------------------------------------------------------- check


def _lookup(data: Mapping[str, Any], path: tuple[str, ...]) -> tuple[bool, Any]:
    node: Any = data
    for step in path:
        if not isinstance(node, Mapping) or step not in node:
            return False, None
        node = node[step]
    return True, node


def _same(left: Any, right: Any) -> bool:
    # YAML's true is not the number 1.
    return isinstance(left, bool) == isinstance(right, bool) and left == right


def _memory_bytes(text: str) -> int:
    return int(text.rstrip("kmgKMG")) * _MEMORY_UNITS[text[-1].lower() if text[-1].isalpha() else ""]


def _in_range(version: str, specifiers: str) -> bool:
    from packaging.specifiers import SpecifierSet
    from packaging.version import InvalidVersion, Version

    try:
        return Version(version) in SpecifierSet(specifiers)
    except InvalidVersion:  # "latest" and other tags cannot be shown to be inside a range
        return False


def _violation(lock: Lock, value: Any) -> tuple[KeyPath, Any] | None:
    """(where inside the value, the offending value) when `value` breaks the lock, else None."""
    if lock.rule == "value":
        return None if _same(value, lock.bound) else ((), value)
    if lock.rule == "one_of":
        return None if any(_same(value, choice) for choice in lock.bound) else ((), value)
    if lock.rule == "at_most" and lock.kind == "array":
        for index, item in enumerate(value):
            if not any(_same(item, allowed) for allowed in lock.bound):
                return (index,), item
        return None
    if lock.rule == "at_most":
        too_big = (_memory_bytes(value) > _memory_bytes(lock.bound) if lock.kind == "memory"
                   else value > lock.bound)
        return ((), value) if too_big else None
    if lock.rule == "versions":
        return None if value == "" or _in_range(value, lock.bound) else ((), value)
    return None  # at_least: a layer can only add items


def _check(lock: Lock, layer: _Layer, system: _Layer) -> None:
    present, value = _lookup(layer.data, lock.path)
    if not present:
        return
    broken = _violation(lock, value)
    if broken is None:
        return
    inner, offending = broken
    path = (*lock.path, *inner)
    own = layer is system
    verdict = "contradicts this file's own lock" if own else "is refused"
    problem = f"{_show(offending)} {verdict}: {lock.describe()}"
    hint = (f"make {lock.key} fit the lock, or change the lock" if own else
            f"remove {lock.key} from {layer.path} or keep it within the lock; only whoever manages "
            f"{lock.file} can change the lock")
    raise LockedKeyError(problem, hint, file=layer.path, line=layer.node_at(path)[1], key=_format_path(path))


# --------------------------------------------------------------------------------------------------- apply


def _apply(lock: Lock, merged: _Merged, system: _Layer, default_versions: DefaultVersions) -> None:
    """Make the merged settings obey the lock; values it supplies point back at the lock for later errors."""
    present, value = _lookup(merged.data, lock.path)
    origin = ("locks", lock.key, lock.rule)
    if lock.rule == "versions" and not present:
        _check_default_version(lock, default_versions)
    if lock.rule == "at_least":
        items = list(value) if present else []
        for index, item in enumerate(lock.bound):
            if not any(_same(item, have) for have in items):
                merged.origins[(*lock.path, len(items))] = (system, (*origin, index))
                items.append(item)
        _store(merged, lock.path, items)
    elif lock.rule == "value" or (not present and lock.rule == "one_of"):
        _store(merged, lock.path, lock.bound if lock.rule == "value" else lock.bound[0])
        merged.origins[lock.path] = (system, origin if lock.rule == "value" else (*origin, 0))
    elif not present and lock.rule == "at_most" and lock.kind != "array":
        _store(merged, lock.path, lock.bound)
        merged.origins[lock.path] = (system, origin)


def _store(merged: _Merged, path: tuple[str, ...], value: Any) -> None:
    node = merged.data
    for step in path[:-1]:
        node = node.setdefault(step, {})
    node[path[-1]] = value


def _check_default_version(lock: Lock, default_versions: DefaultVersions) -> None:
    """No layer pins the agent: the image gets the sandbox_image role's default, which must fit too."""
    agent = lock.path[1] if lock.path[0] == "agents" else None
    default = default_versions().get(agent)
    if isinstance(default, str) and default and not _in_range(default, lock.bound):
        raise SettingsError(
            f"the built-in {agent} version {default} is outside the lock: {lock.describe()}",
            f"pin agents.{agent}.version in {lock.file} to a version inside the range",
            file=lock.file, line=lock.line, key=lock.key,
        )


# --------------------------------------------------------------------------------------------------- check a file


def check_system_layer(path: Path) -> None:
    """Check one system settings file alone: the schema, its locks, and its values against its own locks.

    Keys that name paths on a host (mounts, image.ca_bundle) are left to the host's own aishell-run.
    """
    layer = _read_layer(path)
    if layer is not None:
        enforce_locks([layer], _merge([layer]), path, agent_versions)


def check_text(text: str, name: str) -> tuple[int, str]:
    """Check a system layer given as text, alone: (0, "") or (the exit status, "error: ...", "hint: ..." lines),
    with `name` (e.g. host:/etc/aishell/config.yaml) for the file. Role system_settings' filter plugin
    (roles/system_settings/filter_plugins/settings_check.py) runs it on the controller."""
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "config.yaml"
        path.write_text(text)
        return _report(path, name)


def _report(path: Path, name: str) -> tuple[int, str]:
    try:
        check_system_layer(path)
    except SettingsError as error:
        lines = [f"error: {error.message.replace(str(path), name)}"]
        if error.hint:
            lines.append(f"hint: {error.hint.replace(str(path), name)}")
        return error.exit_code, "\n".join(lines)
    return 0, ""
