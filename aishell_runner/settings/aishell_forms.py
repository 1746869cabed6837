"""aishell's settings forms, read as this project's own settings (docs/settings.md, "aishell's forms").

aishell (github.com/UniSoma/aishell) reads the same file names, ~/.aishell/config.yaml and
<project>/.aishell/config.yaml, with keys of its own and other shapes for some shared ones. Each layer is
translated here, right after it is parsed and before the schema checks it, into native keys only; merging,
locks, origins and the built Settings then see one form. Every native value made here remembers the path
in the file it came from (`aliases`), so an error names the line and key the person wrote.

What has no safe equivalent here is refused by name, never ignored: a `docker_args` flag that would weaken
the sandbox names the setting to use instead, one this project has no setting for says so.

This module imports nothing of the settings: `fail` makes its errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aishell_runner.agents import AGENTS

Key = str | int
KeyPath = tuple[Key, ...]
Fail = Callable[[KeyPath, str, str], Exception]

# Keys only aishell has; the shared ones with other forms (env as a map, pre_start as text) are read too.
AISHELL_KEYS = ("extends", "harness_args", "docker_args", "detection", "claude_isolation",
                "gitleaks_freshness_check", "gitleaks_freshness_threshold", "update_check", "pi_packages",
                "claude_shared_paths", "harnesses")
# aishell keys with no equivalent here: why, and what to do.
_REFUSED = {
    "pi_packages": ("the pi harness is not available here", "remove it"),
    "claude_shared_paths": ("Claude's configuration from the host is chosen here, not listed (docs/agents.md)",
                            "remove it"),
    "harnesses": ("aishell itself does not read this key (its harness guide shows it; aishell warns and ignores "
                  "it)", "write harness_args: {claude: [--model, sonnet]}"),
}
EXTENDS = ("global", "none")
CLAUDE_ISOLATION = ("shared", "project")
SEVERITIES = ("high", "medium", "low")

# docker_args flags with an equivalent here: flag -> (kind, native path). Short forms are spelled out.
_SHORT = {"-e": "--env", "-v": "--volume", "-p": "--publish", "-m": "--memory"}
_VALUE_FLAGS: dict[str, tuple[str, KeyPath]] = {
    "--cpus": ("number", ("resources", "cpus")),
    "--memory": ("text", ("resources", "memory")),
    "--pids-limit": ("integer", ("resources", "pids")),
    "--env": ("append", ("env",)),
    "--volume": ("append", ("mounts",)),
    "--publish": ("append", ("ports",)),
    "--network": ("network", ("network", "mode")),
    "--net": ("network", ("network", "mode")),
    "--security-opt": ("security-opt", ("security",)),
    "--cap-add": ("weakens", ("security", "add_capabilities")),
    "--cap-drop": ("cap-drop", ()),
    "--runtime": ("runtime", ("security", "runtime")),
}
_SWITCHES: dict[str, tuple[Any, KeyPath]] = {
    "--read-only": (True, ("security", "read_only_root")),
}
# Flags that undo part of the sandbox: what each does, and the setting that does the safe part, if any.
_WEAKENING: dict[str, tuple[str, str]] = {
    "--privileged": ("gives the sandbox every capability and the host's devices",
                     "remove it; give back one capability with security.add_capabilities if you must"),
    "--cap-add": ("gives capabilities back", "use security.add_capabilities (e.g. [NET_BIND_SERVICE]), which "
                                             "docs/security.md names with its risk"),
    "--device": ("gives the sandbox a host device", "remove it: there is no safe equivalent here"),
    "--pid": ("with host, shares the host's processes", "remove it: the sandbox keeps its own processes"),
    "--ipc": ("with host, shares the host's IPC", "remove it: the sandbox keeps its own IPC"),
    "--uts": ("with host, shares the host's host name", "remove it"),
    "--userns": ("with host, turns off user namespace remapping", "remove it"),
    "--cgroupns": ("with host, shares the host's cgroups", "remove it"),
    "--group-add": ("adds groups to the sandbox's user (the engine's socket group gives root on the host)",
                    "remove it"),
    "--user": ("changes the user the sandbox runs as", "remove it: the sandbox runs as your own user id"),
}
_HINT_FOR = {
    "--hostname": "remove it: the sandbox's host name is not a setting here",
    "--add-host": "remove it; for a private host the egress proxy may reach, use network.internal_hosts "
                  "(user or system settings) and network.allow",
    "--dns": "remove it: the sandbox resolves names through the egress proxy",
    "--tmpfs": "remove it: /tmp is already a private tmpfs",
    "--memory-swap": "remove it; resources.memory limits the memory",
    "--mount": "use mounts: SOURCE[:TARGET][:ro]",
    "--env-file": "list the variables under env:",
    "--workdir": "remove it: the sandbox starts in the project",
    "--entrypoint": "remove it; use pre_start for commands before the agent",
}


@dataclass
class Translation:
    """A layer in native keys, with where each translated value was written, and its `extends`."""

    data: dict[str, Any]
    aliases: dict[KeyPath, KeyPath] = field(default_factory=dict)
    extends: str | None = None


def translate(data: dict[str, Any], fail: Fail) -> Translation:
    """`data` with aishell's forms turned into native keys; `fail(path, problem, hint)` makes the errors."""
    mounts = data.get("mounts")
    aishell_mounts = isinstance(mounts, list) and any(
        isinstance(item, dict) or (isinstance(item, str) and item.startswith("$HOME")) for item in mounts)
    if not any(key in data for key in AISHELL_KEYS) and not isinstance(data.get("env"), dict) \
            and not isinstance(data.get("pre_start"), str) and not aishell_mounts:
        return Translation(data)
    for key, (why, hint) in _REFUSED.items():
        if key in data:
            raise fail((key,), f"aishell's {key} has no equivalent here: {why}", hint)
    out = _Out({key: value for key, value in data.items() if key not in AISHELL_KEYS}, fail)
    if aishell_mounts:
        out.data["mounts"] = [_mount(item, ("mounts", index), fail) for index, item in enumerate(mounts)]
    if isinstance(data.get("env"), dict):
        out.data["env"] = []
        for name, value in data["env"].items():
            if value is not None and not isinstance(value, str):
                shown = str(value).lower() if isinstance(value, bool) else str(value)
                raise fail(("env", name), f"the value of {name} is not text",
                           f'quote it: {name}: "{shown}", or leave it empty ({name}:) to pass the host\'s value')
            out.append(("env",), name if value is None else f"{name}={value}", ("env", name))
    if isinstance(data.get("pre_start"), str):
        out.data["pre_start"] = []
        out.append(("pre_start",), data["pre_start"], ("pre_start",))
    extends = data.get("extends")
    if "extends" in data and extends not in EXTENDS:
        raise fail(("extends",), f"{extends!r} is not one of: {', '.join(EXTENDS)}",
                   "extends: global reads your user settings too (the default); none leaves them out")
    for name in _READERS:
        if name in data:
            _READERS[name](data[name], out)
    return Translation(out.data, out.aliases, extends)


class _Out:
    def __init__(self, data: dict[str, Any], fail: Fail):
        self.data = data
        self.fail = fail
        self.aliases: dict[KeyPath, KeyPath] = {}

    def _parent(self, path: KeyPath, where: KeyPath) -> dict[str, Any]:
        node = self.data
        for step in path:
            child = node.setdefault(step, {})
            if not isinstance(child, dict):
                raise self.fail(where, f"{'.'.join(map(str, path))} is set in this file in another form",
                                "keep one of the two")
            node = child
        return node

    def append(self, path: KeyPath, value: Any, where: KeyPath) -> None:
        items = self._parent(path[:-1], where).setdefault(path[-1], [])
        if not isinstance(items, list):
            raise self.fail(where, f"{'.'.join(map(str, path))} is set in this file in another form",
                            "keep one of the two")
        self.aliases[(*path, len(items))] = where
        items.append(value)

    def set(self, path: KeyPath, value: Any, where: KeyPath) -> None:
        parent = self._parent(path[:-1], where)
        if path[-1] in parent and parent[path[-1]] != value:
            raise self.fail(where, f"{'.'.join(map(str, path))} is set twice in this file, to "
                                   f"{parent[path[-1]]!r} and {value!r}", "keep one of them")
        parent[path[-1]] = value
        self.aliases[path] = where


def _mount(item: Any, where: KeyPath, fail: Fail) -> Any:
    """A mount string with aishell's $HOME, or the {source, target} form its README shows, as SOURCE[:TARGET]."""
    if isinstance(item, dict):
        if not isinstance(item.get("source"), str) or not set(item) <= {"source", "target", "readonly"}:
            raise fail(where, "a mount mapping has source (and target, readonly)", "or write SOURCE[:TARGET][:ro]")
        target = item.get("target")
        if target is not None and not isinstance(target, str):
            raise fail((*where, "target"), "expected text", "an absolute path such as /data")
        item = item["source"] + (f":{target}" if target else "") + (":ro" if item.get("readonly") is True else "")
    if isinstance(item, str) and (item == "$HOME" or item.startswith("$HOME/")):
        item = "~" + item[len("$HOME"):]
    return item


def _harness_args(value: Any, out: _Out) -> None:
    if not isinstance(value, dict):
        raise out.fail(("harness_args",), "expected a mapping of harness names to arguments",
                       "e.g. harness_args: {claude: [--model, sonnet]}")
    for agent, args in value.items():
        where = ("harness_args", agent)
        if agent not in AGENTS:
            raise out.fail(where, f"aishell's {agent!r} harness is not available here",
                           f"harness_args takes: {', '.join(AGENTS)}")
        if isinstance(args, str):
            args = [args]
        if not isinstance(args, list):
            raise out.fail(where, "expected an argument or a list of arguments", f"e.g. {agent}: [--verbose]")
        for index, arg in enumerate(args):
            out.append(("agents", agent, "args"), arg, (*where, index) if isinstance(value[agent], list) else where)


def _detection(value: Any, out: _Out) -> None:
    if not isinstance(value, dict):
        raise out.fail(("detection",), "expected a mapping with enabled, custom_patterns or allowlist",
                       "write the keys indented under it, one per line")
    for key in value:
        if key not in ("enabled", "custom_patterns", "allowlist"):
            raise out.fail(("detection", key), f"unknown key {key!r}",
                           "keys allowed here: enabled, custom_patterns, allowlist")
    enabled = value.get("enabled", True)
    if not isinstance(enabled, bool):
        raise out.fail(("detection", "enabled"), "expected true or false", "detection: {enabled: true}")
    if not enabled:
        raise out.fail(("detection", "enabled"),
                       "the sensitive-file scan cannot be turned off in settings here",
                       "remove it; accept findings with detection.allowlist (scan.allow), or scan.content: "
                       "false to skip only the content scan")
    patterns = value.get("custom_patterns") or {}
    if not isinstance(patterns, dict):
        raise out.fail(("detection", "custom_patterns"), "expected a mapping of globs to a severity",
                       '"*.secret": high, or "*.secret": {severity: high, reason: ...}')
    ids: set[str] = set()
    for pattern, rule in patterns.items():
        where = ("detection", "custom_patterns", pattern)
        reason = ""
        if isinstance(rule, dict):
            for key in rule:
                if key not in ("severity", "reason"):
                    raise out.fail((*where, key), f"unknown key {key!r}", "keys allowed here: severity, reason")
            reason, rule = rule.get("reason", ""), rule.get("severity")
            if not isinstance(reason, str):
                raise out.fail((*where, "reason"), "expected text", "reason: \"why this file is sensitive\"")
        if rule not in SEVERITIES:
            raise out.fail(where if not isinstance(patterns[pattern], dict) else (*where, "severity"),
                           f"the severity {rule!r} is not one of: {', '.join(SEVERITIES)}",
                           "high blocks a launch until confirmed; medium and low warn")
        rule_id = _rule_id(pattern, ids)
        index = len(out.data.get("scan", {}).get("rules", []))
        out.append(("scan", "rules"), {"id": rule_id, "severity": rule, "patterns": [pattern],
                                       "description": reason or f"aishell custom pattern {pattern}"}, where)
        out.aliases[("scan", "rules", index, "patterns", 0)] = where
    allowlist = value.get("allowlist") or []
    if not isinstance(allowlist, list):
        raise out.fail(("detection", "allowlist"), "expected a list of entries with path and reason",
                       "- path: .env.ci\n  reason: CI template")
    for index, entry in enumerate(allowlist):
        where = ("detection", "allowlist", index)
        if isinstance(entry, dict) and isinstance(entry.get("path"), str) and entry["path"] \
                and set(entry) <= {"path", "reason"}:
            out.append(("scan", "allow"), entry["path"], (*where, "path"))
        else:
            raise out.fail(where, "an allowlist entry is a path (and a reason)",
                           "- path: test/fixtures/*.key\n  reason: fake keys")


def _rule_id(pattern: str, taken: set[str]) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", pattern.lower()).strip("-") or "pattern"
    rule_id, number = f"aishell-{slug}", 2
    while rule_id in taken:
        rule_id, number = f"aishell-{slug}-{number}", number + 1
    taken.add(rule_id)
    return rule_id


def _number_of_days(value: Any, out: _Out, where: KeyPath) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise out.fail(where, "expected a whole number of days", "e.g. 7; it has no effect here")


def _update_check(value: Any, out: _Out) -> None:
    """aishell's own update notice: accepted, no effect here."""
    if not isinstance(value, dict) or not set(value) <= {"enabled", "interval_days"}:
        raise out.fail(("update_check",), "expected a mapping with enabled and interval_days",
                       "update_check: {enabled: true, interval_days: 7}; it has no effect here")
    if not isinstance(value.get("enabled", True), bool):
        raise out.fail(("update_check", "enabled"), "expected true or false", "enabled: false")
    if "interval_days" in value:
        _number_of_days(value["interval_days"], out, ("update_check", "interval_days"))


def _choice(key: str, choices: tuple[str, ...], meaning: str) -> Callable[[Any, _Out], None]:
    def read(value: Any, out: _Out) -> None:
        if value not in choices:
            raise out.fail((key,), f"{value!r} is not one of: {', '.join(map(str, choices))}", meaning)
    return read


def _docker_args(value: Any, out: _Out) -> None:
    tokens: list[tuple[str, KeyPath]] = []
    items = [(value, ("docker_args",))] if isinstance(value, str) else \
        [(item, ("docker_args", index)) for index, item in enumerate(value)] if isinstance(value, list) else None
    if items is None:
        raise out.fail(("docker_args",), "expected flags as text or a list", 'e.g. docker_args: ["--cpus=2"]')
    # As aishell: text splits on white space (no quoting), a list item is one argument.
    for item, where in items:
        if not isinstance(item, str):
            raise out.fail(where, "a docker_args item must be text", 'quote it, e.g. "--cpus=2"')
        tokens += [(token, where) for token in (item.split() if isinstance(value, str) else [item])]
    position = 0
    while position < len(tokens):
        token, where = tokens[position]
        position += 1
        flag, has_value, given = token.partition("=")
        flag = _SHORT.get(flag, flag)
        if len(flag) > 2 and flag[:2] in _SHORT and not flag.startswith("--"):  # -eNAME=value, -m4g
            flag, has_value, given = _SHORT[flag[:2]], "=", token[2:]
        if flag in _SWITCHES and not has_value:
            setting, path = _SWITCHES[flag]
            out.set(path, setting, where)
            continue
        if flag in _VALUE_FLAGS and not has_value:
            if position >= len(tokens):
                raise out.fail(where, f"{flag} needs a value", f"e.g. {flag}=VALUE")
            given = tokens[position][0]
            position += 1
        _docker_flag(flag, given if flag in _VALUE_FLAGS or has_value else None, where, out)


def _docker_flag(flag: str, given: str | None, where: KeyPath, out: _Out) -> None:
    shown = flag if given is None else f"{flag}={given}"
    if flag in _WEAKENING and not (flag in ("--pid", "--ipc", "--uts", "--userns", "--cgroupns")
                                   and given not in ("host",) and given is not None):
        risk, hint = _WEAKENING[flag]
        raise out.fail(where, f"refusing {shown}: it would weaken the sandbox ({risk})", hint)
    kind, path = _VALUE_FLAGS.get(flag, ("none", ()))
    if kind == "number":
        try:
            number = float(given)
        except ValueError:
            raise out.fail(where, f"{shown}: {given!r} is not a number", f"e.g. {flag}=2") from None
        out.set(path, int(number) if number.is_integer() else number, where)
    elif kind == "integer":
        if not re.fullmatch(r"[0-9]+", given):
            raise out.fail(where, f"{shown}: {given!r} is not a whole number", f"e.g. {flag}=512")
        out.set(path, int(given), where)
    elif kind in ("text", "append"):
        (out.set if kind == "text" else out.append)(path, given, where)
    elif kind == "network":
        if given == "none":
            out.set(path, "none", where)
        elif given == "host" or given.startswith("container:"):
            raise out.fail(where, f"refusing {shown}: it would weaken the sandbox (the host's or another "
                                  "container's network)", "use network.mode: allowlist (the default), open or none")
        else:
            raise out.fail(where, f"{shown} has no equivalent here",
                           "use network.mode: allowlist (the default), open or none")
    elif kind == "security-opt":
        option = given.replace(":", "=", 1)
        if option in ("no-new-privileges", "no-new-privileges=true"):
            out.set(("security", "no_new_privileges"), True, where)
        elif option == "seccomp=unconfined":
            raise out.fail(where, f"refusing {shown}: it would weaken the sandbox (no system-call filter)",
                           "if you accept the risk, set security.seccomp: unconfined (docs/security.md)")
        elif option == "no-new-privileges=false":
            raise out.fail(where, f"refusing {shown}: it would weaken the sandbox (setuid programs raise "
                                  "privileges)", "if you accept the risk, set security.no_new_privileges: false")
        elif option.startswith(("apparmor=", "label=", "seccomp=", "systempaths=", "mask=", "unmask=")):
            raise out.fail(where, f"refusing {shown}: it would change the sandbox's confinement",
                           "remove it; security: in docs/security.md lists what may be relaxed")
        else:
            raise out.fail(where, f"{shown} has no equivalent here", "remove it")
    elif kind == "runtime":
        if given not in ("runc", "runsc"):
            raise out.fail(where, f"{shown} has no equivalent here",
                           "use security.runtime: runc, runsc (gVisor) or auto")
        out.set(path, given, where)
    elif kind == "cap-drop":
        pass  # every capability is dropped already
    else:
        raise out.fail(where, f"{shown} has no equivalent here", _HINT_FOR.get(flag, "remove it"))


_READERS: dict[str, Callable[[Any, _Out], None]] = {
    "harness_args": _harness_args,
    "docker_args": _docker_args,
    "detection": _detection,
    "claude_isolation": _choice("claude_isolation", CLAUDE_ISOLATION,
                                "shared or project; here each agent's state is kept per sandbox profile either way"),
    "gitleaks_freshness_check": _choice("gitleaks_freshness_check", (True, False),
                                        "true or false; it has no effect here (the content scan runs at each "
                                        "launch)"),
    "gitleaks_freshness_threshold": lambda value, out: _number_of_days(value, out, ("gitleaks_freshness_threshold",)),
    "update_check": _update_check,
}
