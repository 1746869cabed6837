"""Project settings: three YAML layers (system, user, project) merged and validated into one `Settings`.

Layers, nearest wins: /etc/aishell/config.yaml, $XDG_CONFIG_HOME/aishell/config.yaml (default
~/.config/aishell/config.yaml) and <project>/.aishell/config.yaml. Any of them may be missing. Maps merge
recursively, lists concatenate (system first), and for scalars the nearer layer wins.

aishell's keys and forms (docker_args, harness_args, detection, env as a map, ...) are translated into
native keys as each layer is read (settings_aishell.py), and ~/.aishell/config.yaml is the user layer when
the XDG one is absent.

Every problem is a `SettingsError` that names the file, the line and the key path, because a settings file
is written by hand and the person fixing it needs to know exactly where to look.

The JSON schema lives here (not only in docs/) so an installed package can validate without the docs tree;
docs/config.schema.json is this schema printed by `python -m aishell_runner.settings`, and a test keeps
the two equal.
"""

from __future__ import annotations

import copy
import difflib
import functools
import hashlib
import ipaddress
import json
import math
import os
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema

import yaml

from aishell_runner.agents import AGENTS, HARNESSES, REGISTRY
from aishell_runner.errors import EXIT_USAGE, AishellError
from aishell_runner.paths import cache_dir
from aishell_runner.settings_aishell import translate

SYSTEM_CONFIG = Path("/etc/aishell/config.yaml")
PROJECT_CONFIG = Path(".aishell/config.yaml")
AISHELL_USER_CONFIG = Path(".aishell/config.yaml")  # aishell's user file, under the home directory
DEFAULT_DOCKERFILE = Path(".aishell/Dockerfile")

ENGINES = ("auto", "docker", "podman")
BASE_SOURCES = ("registry", "debootstrap")
NETWORK_MODES = ("allowlist", "open", "none")
REGISTRIES = ("npm", "pypi", "debian", "github")

# Patterns shared by the schema (for editors) and the checks below. The checks use `fullmatch`, because
# jsonschema's `re.search` lets "$" match before a trailing newline.
# An empty version leaves that agent out of the image.
VERSION_PATTERN = r"^([A-Za-z0-9._+~^-]+)?$"
MEMORY_PATTERN = r"^[0-9]+[kmgKMG]?$"
CAPABILITY_PATTERN = r"^[A-Z][A-Z_]*$"
RULE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_PATTERN = rf"^(\*\.)?({_LABEL}\.)*{_LABEL}$"
IPV4_PATTERN = r"^([0-9]{1,3}\.){3}[0-9]{1,3}$"
SUBNET_PATTERN = r"^([0-9]{1,3}\.){3}[0-9]{1,3}/(1[6-9]|2[0-8])$"
PORT_PATTERN = r"^([0-9]{1,3}(\.[0-9]{1,3}){3}:)?[0-9]{1,5}:[0-9]{1,5}$"
ENV_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(=[\s\S]*)?$"
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# Characters a shell (or the playbook's command lines) would treat specially. Spaces stay allowed: paths
# like "~/My Projects" are common and are always passed as single arguments.
SHELL_METACHARACTERS = frozenset(";&|`$()<>\\\"'*?!{}")

ENGINE_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock", "/run/podman/podman.sock")
ENGINE_WORDS = ("docker", "podman", "containerd")

Key = str | int
KeyPath = tuple[Key, ...]


class SettingsError(AishellError):
    """A settings file is unreadable or invalid; `file`, `line` and `key` say where."""

    exit_code = EXIT_USAGE

    def __init__(
        self,
        problem: str,
        hint: str | None = None,
        *,
        file: Path | None = None,
        line: int | None = None,
        key: str = "",
    ):
        # "file:line: key: problem" is the form editors and terminals turn into a link.
        where = ""
        if file is not None:
            where = f"{file}:{line}: " if line is not None else f"{file}: "
        if key:
            where += f"{key}: "
        super().__init__(where + problem, hint)
        self.problem = problem
        self.file = file
        self.line = line
        self.key = key


@dataclass(frozen=True)
class Mount:
    source: Path
    target: Path
    readonly: bool


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str | None  # None: pass the host's value of `name`


@dataclass(frozen=True)
class AgentSettings:
    version: str | None
    args: tuple[str, ...]
    autonomous: bool


@dataclass(frozen=True)
class Resources:
    cpus: float | None
    memory: str | None
    pids: int | None


@dataclass(frozen=True)
class ImageSettings:
    base_source: str
    fallback: bool
    ca_bundle: str
    dockerfile: Path | None


@dataclass(frozen=True)
class ScanRule:
    id: str
    severity: str
    patterns: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class ScanSettings:
    content: bool
    allow: tuple[str, ...]
    rules: tuple[ScanRule, ...]


@dataclass(frozen=True)
class SecuritySettings:
    read_only_root: bool
    add_capabilities: tuple[str, ...]
    no_new_privileges: bool
    seccomp: str


@dataclass(frozen=True)
class NetworkSettings:
    mode: str
    allow: tuple[str, ...]
    registries: tuple[str, ...]
    internal_hosts: dict[str, str]
    subnet: str | None


@dataclass(frozen=True)
class WorktreeSettings:
    include: tuple[str, ...] = ()


@dataclass(frozen=True)
class Settings:
    engine: str
    harness: str
    agents: dict[str, AgentSettings]
    mounts: tuple[Mount, ...]
    env: tuple[EnvVar, ...]
    ports: tuple[str, ...]
    resources: Resources
    image: ImageSettings
    pre_start: tuple[str, ...]
    exclude: tuple[str, ...]
    scan: ScanSettings
    security: SecuritySettings
    network: NetworkSettings
    sources: tuple[Path, ...]
    raw: dict
    worktree: WorktreeSettings = WorktreeSettings()


# --------------------------------------------------------------------------------------------------- schema


# Every setting's default, in one place: the schema publishes them (docs/config.schema.json), the built
# Settings take them, `aishell-run settings` reports them. `agents.*` is each agent. Resource limits have
# no default here: unset, each is the host's (plan.host_default_resources: all CPUs but one, half the
# memory, 4096 processes).
DEFAULTS: dict[str, Any] = {
    "engine": "auto",
    "harness": "claude",
    "agents.*.autonomous": True,
    "image.base_source": "registry",
    "image.fallback": True,
    "image.ca_bundle": "auto",
    "network.mode": "allowlist",
    "scan.content": True,
    "security.read_only_root": False,
    "security.add_capabilities": [],
    "security.no_new_privileges": True,
    "security.seccomp": "default",
}


def default(key: str) -> Any:
    """The default of a dotted key (an agent's name matches `agents.*`)."""
    parts = key.split(".")
    if parts[0] == "agents" and len(parts) == 3:
        parts[1] = "*"
    return copy.deepcopy(DEFAULTS[".".join(parts)])


def _publish_defaults(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with each DEFAULTS entry as the `default` of its key."""
    for key, value in DEFAULTS.items():
        nodes = [schema]
        for part in key.split("."):
            nodes = [node["properties"][name] for node in nodes
                     for name in (node["properties"] if part == "*" else [part])]
        for node in nodes:
            node["default"] = value
    return schema


def _text(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _list(description: str, items: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "description": description, "items": items}


def _object(description: str, properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "description": description, "additionalProperties": False, "properties": properties}


def _agent_schema(agent: str) -> dict[str, Any]:
    return _object(
        f"Settings for the {agent} agent.",
        {
            "version": _text(
                f'Version of {agent} to install in the image, e.g. "1.2.3" or "latest"; "" leaves it out. '
                "Quote it in YAML.",
                pattern=VERSION_PATTERN,
            ),
            "args": _list(
                f"Extra command-line arguments for {agent}; layers concatenate.",
                _text("One argument, passed as is (no shell)."),
            ),
            "autonomous": {
                "type": "boolean",
                "description": f"Run {agent} in its own no-approval mode (the sandbox is the boundary); false "
                               "restores its own prompts. See docs/agents.md.",
            },
        },
    )


SCHEMA: dict[str, Any] = _publish_defaults({
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "aishell-run settings",
    "description": (
        "aishell-run settings (/etc/aishell/config.yaml, ~/.config/aishell/config.yaml, .aishell/config.yaml). "
        "Maps merge, lists concatenate, the nearest file wins for single values."
    ),
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "engine": _text("Container engine: auto (first found), docker or podman.", enum=list(ENGINES)),
        "harness": _text(
            "What runs in the sandbox: an agent (claude, codex, gemini, opencode) or a plain shell.",
            enum=list(HARNESSES),
        ),
        "agents": _object("Per-agent settings.", {agent: _agent_schema(agent) for agent in AGENTS}),
        "mounts": _list(
            "Extra bind mounts, SOURCE[:TARGET][:ro]. SOURCE may start with ~ or be relative to the project; "
            "TARGET must be absolute and defaults to SOURCE.",
            _text("A mount such as ~/datasets:/data:ro.", minLength=1),
        ),
        "env": _list(
            "Environment variables for the sandbox: NAME=value, or NAME alone to pass the host's value.",
            _text("NAME=value or NAME.", pattern=ENV_PATTERN),
        ),
        "ports": _list(
            'Published ports, "HOST:CONTAINER" or "IP:HOST:CONTAINER". Quote them in YAML.',
            _text('A port mapping such as "127.0.0.1:8080:80".', pattern=PORT_PATTERN),
        ),
        "resources": _object(
            "Resource limits for the sandbox.",
            {
                "cpus": {"type": "number", "exclusiveMinimum": 0, "description": "CPUs the sandbox may use, e.g. 2."},
                "memory": _text(
                    "Memory limit: a number with an optional k, m or g suffix, e.g. 4g.", pattern=MEMORY_PATTERN
                ),
                "pids": {"type": "integer", "minimum": 1, "description": "Most processes the sandbox may run."},
            },
        ),
        "image": _object(
            "How the sandbox image is built.",
            {
                "base_source": _text(
                    "Where the base system comes from: registry (pull) or debootstrap (build locally).",
                    enum=list(BASE_SOURCES),
                ),
                "fallback": {
                    "type": "boolean",
                    "description": "Fall back to the other base_source when the chosen one fails.",
                },
                "ca_bundle": _text(
                    "Extra CA certificates: auto (the host's), none, or a path to a PEM file.",
                    minLength=1,
                ),
                "dockerfile": _text(
                    "Dockerfile that extends the image, relative to the project. Default: .aishell/Dockerfile "
                    "when it exists.",
                    minLength=1,
                ),
            },
        ),
        "pre_start": _list(
            "Shell commands run inside the sandbox, in order, before the agent starts.",
            _text("One shell command.", minLength=1),
        ),
        "network": _object(
            "What the sandbox may reach (docs/security.md). allowlist: only the running agent's own hosts and "
            "those listed here, through the egress proxy; open: the engine's default network; none: no network.",
            {
                "mode": _text("allowlist, open or none.", enum=list(NETWORK_MODES)),
                "allow": _list(
                    "Extra host names the sandbox may reach in allowlist mode: example.com (exactly), "
                    "*.example.com (its subdomains).",
                    _text("A host name, or *. and a domain.", pattern=HOST_PATTERN),
                ),
                "registries": _list(
                    "Package registries to allow: npm (registry.npmjs.org), pypi (pypi.org, "
                    "files.pythonhosted.org), debian (deb.debian.org, security.debian.org), github.",
                    _text("A registry.", enum=list(REGISTRIES)),
                ),
                "internal_hosts": {
                    "type": "object",
                    "description": "Hosts on private addresses the proxy may reach, NAME: IPv4 address (e.g. a "
                                   "company registry). Only in the system or user settings, never a project's. "
                                   "List the names in allow too.",
                    "propertyNames": {"pattern": HOST_PATTERN},
                    "additionalProperties": _text("An IPv4 address.", pattern=IPV4_PATTERN),
                },
                "subnet": _text(
                    "IPv4 subnet of the sandboxes' internal network (default 10.213.N.0/24, N from your user "
                    "id). Change it when it collides with a network of yours.",
                    pattern=SUBNET_PATTERN,
                ),
            },
        ),
        "exclude": _list(
            "Files and directories of the project the sandbox sees empty, as gitignore-style globs: a name "
            "(.env, *.pem) matches at any depth, a path with a slash (config/master.key) from the project's root.",
            _text("A path or glob inside the project, e.g. .env or secrets/.", minLength=1),
        ),
        "worktree": _object(
            "Agent branches (`--branch NAME`): each is a git worktree outside the project.",
            {
                "include": _list(
                    "Gitignored files of the project to copy into a new branch's worktree (none by default), as "
                    "exclude's globs: .env.local, config/*.local.yaml. The sensitive-file scan sees them there.",
                    _text("A path or glob inside the project.", minLength=1),
                ),
            },
        ),
        "scan": _object(
            "Sensitive-file scan before a launch.",
            {
                "content": {"type": "boolean",
                            "description": "Also scan file contents for secrets (gitleaks or detect-secrets)."},
                "allow": _list(
                    "Findings to accept: path globs, or a finding's 16-character fingerprint "
                    "(aishell-run scan --json shows them).",
                    _text("A glob such as tests/fixtures/** or a fingerprint.", minLength=1),
                ),
                "rules": _list(
                    "Extra name rules.",
                    {
                        "type": "object",
                        "description": "A rule: files matching any pattern are findings of this severity.",
                        "additionalProperties": False,
                        "required": ["id", "patterns", "severity"],
                        "properties": {
                            "id": _text("Rule name shown in findings.", pattern=RULE_ID_PATTERN),
                            "patterns": _list("Globs, as in exclude.", _text("A glob.", minLength=1)),
                            "severity": _text("high blocks a launch until confirmed; medium and low warn.",
                                              enum=["high", "medium", "low"]),
                            "description": _text("What such a file holds."),
                        },
                    },
                ),
            },
        ),
        "security": _object(
            "Hardening of the sandbox. The defaults are the safe choice; each relaxation is named in "
            "docs/security.md with its risk.",
            {
                "read_only_root": {"type": "boolean",
                                   "description": "Mount the image read-only; the project, the home and /tmp stay "
                                                  "writable."},
                "add_capabilities": _list(
                    "Capabilities given back (all are dropped), e.g. NET_BIND_SERVICE. Each widens what a "
                    "compromised agent can do.",
                    _text("A capability name without CAP_.", pattern=CAPABILITY_PATTERN),
                ),
                "no_new_privileges": {"type": "boolean",
                                      "description": "false lets setuid programs raise privileges inside."},
                "seccomp": _text("The engine's default system-call filter, or unconfined (no filter).",
                                 enum=["default", "unconfined"]),
            },
        ),
        # The rules themselves are checked in settings_locks.py, which knows the key each lock names.
        "locks": {
            "type": "object",
            "description": "Only in the system file (/etc/aishell/config.yaml): keys that user and project settings "
                           "may not loosen, by dotted key path (network.mode, resources.pids, exclude, "
                           "agents.claude.version), each with one rule. See docs/settings.md.",
            "propertyNames": {"pattern": r"^[a-z_]+(\.[a-z_]+)*$",
                              "description": "A key's dotted path, as in the schema: network.mode, resources.pids."},
            "additionalProperties": _object(
                "A lock: exactly one of value, one_of, at_most, at_least, versions; and a reason if you like.",
                {
                    "value": {"description": "The key is this value.", "type": ["string", "number", "boolean"]},
                    "one_of": _list("The key is one of these; unset, the first.",
                                    {"type": ["string", "number", "boolean"]}),
                    "at_most": {"description": "A number or memory size the key may not exceed, or the only "
                                               "items a list may hold.", "type": ["number", "string", "array"]},
                    "at_least": _list("Items always in the list.", {}),
                    "versions": _text('A version range of PEP 440 specifiers, e.g. ">=2.1.300,<2.2".', minLength=1),
                    "reason": _text("Why: shown to whoever is refused."),
                },
            ),
        },
    },
})

@functools.cache
def _validator() -> jsonschema.Draft202012Validator:
    import jsonschema  # here: a launch whose settings were validated before never pays for it

    return jsonschema.Draft202012Validator(SCHEMA)


# Documents that passed the schema before (sha256 of schema + document), so an
# unchanged settings file is not validated again at every launch. The checks
# that look at the host (mount sources, paths) still run every time.
_VALID_CACHE_SIZE = 200


def _valid_cache_file() -> Path:
    return cache_dir() / "valid-settings"


def _fingerprint(data: Any) -> str:
    document = json.dumps([SCHEMA, data], sort_keys=True, default=str)
    return hashlib.sha256(document.encode()).hexdigest()


def _known_valid(fingerprint: str) -> bool:
    try:
        return fingerprint in _valid_cache_file().read_text().split()
    except OSError:
        return False


def _remember_valid(fingerprint: str) -> None:
    path = _valid_cache_file()
    try:
        known = path.read_text().split() if path.exists() else []
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join([*known, fingerprint][-_VALID_CACHE_SIZE:]) + "\n")
    except OSError:
        pass  # only a cache


def _schema_key_paths(schema: Mapping[str, Any], prefix: str = "") -> dict[str, list[str]]:
    """Every key name the schema knows, with the dotted paths where it may appear (for "did you mean")."""
    found: dict[str, list[str]] = {}
    for name, sub in schema.get("properties", {}).items():
        found.setdefault(name, []).append(prefix + name)
        for inner, paths in _schema_key_paths(sub, f"{prefix}{name}.").items():
            found.setdefault(inner, []).extend(paths)
    return found


_KEY_PATHS = _schema_key_paths(SCHEMA)


# --------------------------------------------------------------------------------------------------- layers


def _format_path(path: KeyPath) -> str:
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", step):
            text += f".{step}" if text else step
        else:
            text += f"[{json.dumps(step)}]"
    return text


def _show(value: Any) -> str:
    """A value quoted for a message, short and with control characters escaped."""
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _line(node: yaml.Node | None) -> int | None:
    return node.start_mark.line + 1 if node is not None and node.start_mark is not None else None


@dataclass
class _Layer:
    """One settings file: its data and its YAML node tree, kept to turn key paths into line numbers."""

    path: Path
    data: dict[str, Any]
    root: yaml.Node | None
    # Native key paths made from aishell's forms (settings_aishell.py) -> the path written in the file.
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


def _read_layer(path: Path) -> _Layer | None:
    """Parse one file, or None when it does not exist. Raises SettingsError for anything malformed."""
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
    name = next((step for step in reversed(path) if isinstance(step, str)), "")
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
        check = _VALUE_CHECKS.get(name)
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


# --------------------------------------------------------------------------------------------------- value checks
# Each returns (problem, hint) or None; the schema's pattern errors reuse them so both paths read the same.


def _version_problem(value: Any) -> tuple[str, str] | None:
    if isinstance(value, str) and re.fullmatch(VERSION_PATTERN[1:-1], value):
        return None
    return (f"{_show(value)} is not a version", 'use letters, digits and . _ + ~ ^ - only, e.g. "1.2.3" or "latest"')


def _memory_problem(value: Any) -> tuple[str, str] | None:
    if isinstance(value, str) and re.fullmatch(MEMORY_PATTERN[1:-1], value) and int(value.rstrip("kmgKMG")) > 0:
        return None
    return f"{_show(value)} is not a memory size", "use a number with an optional k, m or g suffix, e.g. 512m or 2g"


def _port_problem(value: Any) -> tuple[str, str] | None:
    hint = 'use "HOST:CONTAINER" or "IP:HOST:CONTAINER", e.g. "8080:80" or "127.0.0.1:8080:80"'
    if isinstance(value, str) and re.fullmatch(PORT_PATTERN[1:-1] + "/(tcp|udp)", value):
        return f"{_show(value)}: a protocol suffix is not supported here (ports are TCP)", \
            f'remove it: "{value.rsplit("/", 1)[0]}"'
    if not isinstance(value, str) or not re.fullmatch(PORT_PATTERN[1:-1], value):
        return f"{_show(value)} is not a port mapping", hint
    *address, host, container = value.split(":")
    if address and any(int(octet) > 255 for octet in address[0].split(".")):
        return f"{_show(address[0])} is not an IPv4 address", hint
    for port in (host, container):
        if not 1 <= int(port) <= 65535:
            return f"port {int(port)} is out of range (1-65535)", hint
    return None


def _env_problem(value: Any) -> tuple[str, str] | None:
    name = value.partition("=")[0] if isinstance(value, str) else value
    if isinstance(name, str) and ENV_NAME_RE.fullmatch(name):
        return None
    return (
        f"{_show(name)} is not a valid environment variable name",
        "names use letters, digits and _ and do not start with a digit: API_URL=https://example.com, or API_TOKEN "
        "alone to pass the host's value",
    )


def _host_problem(value: Any) -> tuple[str, str] | None:
    if isinstance(value, str) and re.fullmatch(HOST_PATTERN[1:-1], value):
        return None
    return (f"{_show(value)} is not a host name",
            "write a name such as api.example.com, or *.example.com for its subdomains (no scheme, port or path)")


def _address_problem(value: Any) -> tuple[str, str] | None:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return f"{_show(value)} is not an IPv4 address", "for example 10.1.2.3"
    return None


def _subnet_problem(value: Any) -> tuple[str, str] | None:
    try:
        subnet = ipaddress.IPv4Network(value)
    except ValueError:
        subnet = None
    if subnet is not None and subnet.is_private and 16 <= subnet.prefixlen <= 28:
        return None
    return (f"{_show(value)} is not a private IPv4 subnet from /16 to /28",
            "for example 10.213.7.0/24, with host bits zero")


_VALUE_CHECKS: dict[str, Callable[[Any], tuple[str, str] | None]] = {
    "allow": _host_problem,
    "subnet": _subnet_problem,
    "version": _version_problem,
    "memory": _memory_problem,
    "ports": _port_problem,
    "env": _env_problem,
}


def _inside_project_problem(value: Any) -> tuple[str, str] | None:
    parts = str(value).replace("\\", "/").split("/")
    if ".." in parts or str(value).startswith("~"):
        return (f"{_show(value)} leaves the project",
                "exclude and scan patterns are paths inside the project, e.g. .env, secrets/ or config/*.key")
    return None


def _unsafe_character(text: str) -> str | None:
    """Describe the first shell metacharacter or control character in `text`, or None."""
    for char in text:
        if char in SHELL_METACHARACTERS:
            return f"the shell metacharacter {char!r}"
        if ord(char) < 0x20 or ord(char) == 0x7F:
            return f"the control character {char!r}"
    return None


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


# --------------------------------------------------------------------------------------------------- build


@dataclass(frozen=True)
class _Context:
    project: Path
    home: Path
    runtime_dir: Path | None
    allow_risky_mounts: bool


def _expand(text: str, context: _Context, fail: Callable[[str, str], SettingsError]) -> Path:
    """`~` and `~/x` use the home directory; relative paths are relative to the project root."""
    if text == "~" or text.startswith("~/"):
        text = str(context.home) + text[1:]
    elif text.startswith("~"):
        raise fail(f"{_show(text)}: only ~ (your own home directory) is supported", "write the full path instead")
    path = Path(text)
    if not path.is_absolute():
        path = context.project / path
    return Path(os.path.normpath(path))


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # e.g. a name too long for the file system
        return False


def _mount_risk(source: Path, context: _Context, readonly: bool) -> str | None:
    """Why mounting `source` (or what it points to) would undo the sandbox, or None when it is fine."""
    homes = {context.home, Path(os.path.realpath(context.home))}
    sockets = {Path(socket) for socket in ENGINE_SOCKETS}
    if context.runtime_dir is not None:
        sockets.add(context.runtime_dir / "podman" / "podman.sock")
    for path in (source, Path(os.path.realpath(source))):
        if path == Path("/"):
            return "/ is the whole host file system"
        if path in sockets or (path.name.endswith(".sock") and any(w in str(path).lower() for w in ENGINE_WORDS)):
            return "an engine socket gives root on the host"
        if any(path in socket.parents for socket in sockets):
            return "it contains an engine socket, which gives root on the host"
        if path == Path("/etc") or Path("/etc") in path.parents:
            return "/etc holds the host's system configuration and secrets"
        for home in homes:
            ssh = home / ".ssh"
            if path == ssh or ssh in path.parents:
                return "~/.ssh holds your SSH private keys"
            if path == home:
                return "your home directory holds your credentials, keys and shell history"
            if path in home.parents:
                return f"it contains your home directory ({home}) with your credentials and keys"
            if not readonly:
                for config in (home / relative for agent in REGISTRY.values() for relative in agent.host_config):
                    if path == config or config in path.parents or path in config.parents:
                        return (f"{config} is an agent's configuration on the host: a hook or MCP server "
                                "written there from inside would run on the host (mount it read-only)")
    return None


def _parse_mount(spec: str, context: _Context, fail: Callable[[str, str], SettingsError]) -> Mount:
    bad = _unsafe_character(spec)
    if bad:
        raise fail(f"the mount {_show(spec)} contains {bad}", "rename the directory or mount a parent without it")
    parts = spec.split(":")
    readonly = False
    if len(parts) > 1 and parts[-1] in ("ro", "rw"):
        readonly = parts.pop() == "ro"
    if len(parts) > 2 or not all(parts):
        raise fail(f"{_show(spec)} is not a mount", "write SOURCE[:TARGET][:ro], e.g. ~/datasets:/data:ro")
    source = _expand(parts[0], context, fail)
    if not _exists(source):
        raise fail(
            f"the mount source {source} does not exist",
            f"create it or fix the path (relative paths start at the project, {context.project})",
        )
    risk = _mount_risk(source, context, readonly)
    if risk and not context.allow_risky_mounts:
        raise fail(
            f"refusing to mount {source}: {risk}",
            "mount a narrower directory, or allow risky mounts explicitly (--allow-risky-mounts) if you accept this",
        )
    target = source
    if len(parts) == 2:
        if not parts[1].startswith("/"):
            raise fail(f"the mount target {_show(parts[1])} is not an absolute path", "e.g. ~/datasets:/data")
        target = Path(posixpath.normpath(parts[1]))
        if target == Path("/"):
            raise fail("a mount cannot replace the sandbox's root directory", "choose a target such as /data")
    return Mount(source=source, target=target, readonly=readonly)


def _file_setting(text: str, what: str, context: _Context, fail: Callable[[str, str], SettingsError]) -> Path:
    bad = _unsafe_character(text)
    if bad:
        raise fail(f"the {what} path {_show(text)} contains {bad}", "rename the file or use another path")
    path = _expand(text, context, fail)
    if not _exists(path):
        raise fail(
            f"the {what} {path} does not exist",
            f"fix the path (relative paths start at the project, {context.project})",
        )
    return path


def security_settings(given: Mapping[str, Any] | None = None) -> SecuritySettings:
    """The settings' `security:` over the defaults (the safe choice); no argument: the defaults alone."""
    given = given or {}
    fields = {name: given.get(name, default(f"security.{name}"))
              for name in ("read_only_root", "add_capabilities", "no_new_privileges", "seccomp")}
    return SecuritySettings(**{**fields, "add_capabilities": tuple(dict.fromkeys(fields["add_capabilities"]))})


def _build(merged: _Merged, context: _Context, sources: tuple[Path, ...]) -> Settings:
    data = merged.data

    def failing(path: KeyPath) -> Callable[[str, str], SettingsError]:
        return lambda problem, hint: merged.error(path, problem, hint)

    def checked(path: KeyPath, value: Any, check: Callable[[Any], tuple[str, str] | None]) -> Any:
        problem = check(value)
        if problem:
            raise merged.error(path, *problem)
        return value

    agents = {}
    for agent in AGENTS:
        conf = data.get("agents", {}).get(agent, {})
        version = conf.get("version")
        if version is not None:
            checked(("agents", agent, "version"), version, _version_problem)
        agents[agent] = AgentSettings(version=version, args=tuple(conf.get("args", ())),
                                      autonomous=conf.get("autonomous", default(f"agents.{agent}.autonomous")))

    mounts = tuple(
        _parse_mount(spec, context, failing(("mounts", index))) for index, spec in enumerate(data.get("mounts", ()))
    )

    env = []
    for index, item in enumerate(data.get("env", ())):
        checked(("env", index), item, _env_problem)
        name, sep, value = item.partition("=")
        env.append(EnvVar(name=name, value=value if sep else None))

    ports = tuple(checked(("ports", index), port, _port_problem) for index, port in enumerate(data.get("ports", ())))

    limits = data.get("resources", {})
    cpus = limits.get("cpus")
    if cpus is not None:
        try:
            cpus = float(cpus)
        except OverflowError:
            cpus = math.inf
        if not math.isfinite(cpus):
            raise merged.error(("resources", "cpus"), "cpus must be a finite number", "e.g. cpus: 2")
    memory = limits.get("memory")
    if memory is not None:
        checked(("resources", "memory"), memory, _memory_problem)
    resources = Resources(cpus=cpus, memory=memory, pids=limits.get("pids"))

    image = data.get("image", {})
    ca_bundle = image.get("ca_bundle", default("image.ca_bundle"))
    if ca_bundle not in ("auto", "none"):
        ca_bundle = str(_file_setting(ca_bundle, "CA bundle", context, failing(("image", "ca_bundle"))))
    dockerfile = image.get("dockerfile")
    if dockerfile is not None:
        dockerfile = _file_setting(dockerfile, "Dockerfile", context, failing(("image", "dockerfile")))
    elif _exists(context.project / DEFAULT_DOCKERFILE):
        dockerfile = context.project / DEFAULT_DOCKERFILE

    exclude = tuple(
        checked(("exclude", index), entry, _inside_project_problem)
        for index, entry in enumerate(data.get("exclude", ()))
    )
    include = tuple(
        checked(("worktree", "include", index), entry, _inside_project_problem)
        for index, entry in enumerate(data.get("worktree", {}).get("include", ()))
    )
    security = data.get("security", {})
    network = data.get("network", {})
    for name, address in network.get("internal_hosts", {}).items():
        checked(("network", "internal_hosts", name), address, _address_problem)
    if "subnet" in network:
        checked(("network", "subnet"), network["subnet"], _subnet_problem)
    scan = data.get("scan", {})
    rules = tuple(
        ScanRule(id=rule["id"], severity=rule["severity"],
                 patterns=tuple(checked(("scan", "rules", index, "patterns", n), p, _inside_project_problem)
                                for n, p in enumerate(rule["patterns"])),
                 description=rule.get("description", ""))
        for index, rule in enumerate(scan.get("rules", ()))
    )

    return Settings(
        engine=data.get("engine", default("engine")),
        harness=data.get("harness", default("harness")),
        agents=agents,
        mounts=mounts,
        env=tuple(env),
        ports=ports,
        resources=resources,
        image=ImageSettings(
            base_source=image.get("base_source", default("image.base_source")),
            fallback=image.get("fallback", default("image.fallback")),
            ca_bundle=ca_bundle,
            dockerfile=dockerfile,
        ),
        pre_start=tuple(data.get("pre_start", ())),
        exclude=exclude,
        scan=ScanSettings(content=scan.get("content", default("scan.content")), allow=tuple(scan.get("allow", ())),
                          rules=rules),
        security=security_settings(security),
        network=NetworkSettings(
            mode=network.get("mode", default("network.mode")),
            allow=tuple(dict.fromkeys(host.lower() for host in network.get("allow", ()))),
            registries=tuple(dict.fromkeys(network.get("registries", ()))),
            internal_hosts={name.lower(): address for name, address in network.get("internal_hosts", {}).items()},
            subnet=network.get("subnet"),
        ),
        sources=sources,
        raw=copy.deepcopy(data),
        worktree=WorktreeSettings(include=include),
    )


# --------------------------------------------------------------------------------------------------- entry point


def default_user_file(environ: Mapping[str, str]) -> Path:
    """The XDG file, or aishell's ~/.aishell/config.yaml when only that one exists."""
    # The XDG spec says a relative XDG_CONFIG_HOME is invalid and must be ignored.
    config_home = environ.get("XDG_CONFIG_HOME", "")
    base = Path(config_home) if os.path.isabs(config_home) else _home(environ) / ".config"
    xdg = base / "aishell" / "config.yaml"
    aishell = _home(environ) / AISHELL_USER_CONFIG
    return aishell if not _exists(xdg) and _exists(aishell) else xdg


def _home(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("HOME") or os.path.expanduser("~"))


def load_settings(
    project: Path,
    *,
    system_file: Path | None = None,
    user_file: Path | None = None,
    allow_risky_mounts: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read, merge and check the system, user and project settings for `project`."""
    merged, context, layers = _load(project, system_file=system_file, user_file=user_file,
                                    allow_risky_mounts=allow_risky_mounts, environ=environ)
    return _build(merged, context, tuple(layer.path for layer in layers))


def _load(project: Path, *, system_file: Path | None, user_file: Path | None, allow_risky_mounts: bool,
          environ: Mapping[str, str] | None) -> tuple[_Merged, _Context, list[_Layer]]:
    """The layers of `project`, read and merged (locks applied): what load_settings builds from, and what
    settings_origins.py explains."""
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
    layers = [layer for layer in map(_read_layer, unique) if layer is not None]
    project_layer = next((layer for layer in layers if layer.path == project / PROJECT_CONFIG), None)
    _refuse_project_only_keys(project_layer)
    layers = _apply_extends(layers, project_layer, candidates[1])
    runtime_dir = environ.get("XDG_RUNTIME_DIR")
    context = _Context(
        project=project,
        home=Path(os.path.normpath(_home(environ))),
        runtime_dir=Path(runtime_dir) if runtime_dir and os.path.isabs(runtime_dir) else None,
        allow_risky_mounts=allow_risky_mounts,
    )
    merged = _merge(layers)
    if any("locks" in layer.data for layer in layers):  # the system layer's locks: see settings_locks.py
        from aishell_runner.settings_locks import enforce_locks

        enforce_locks(layers, merged, candidates[0])
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


def _refuse_project_only_keys(project_layer: _Layer | None) -> None:
    """Keys a project's own settings may not set: a cloned repository must not open the user's network."""
    network = project_layer.data.get("network") if project_layer else None
    if isinstance(network, dict) and "internal_hosts" in network:
        raise project_layer.error(("network", "internal_hosts"),
                                  "a project's settings cannot name internal hosts for the proxy to reach",
                                  "put network.internal_hosts in ~/.config/aishell/config.yaml or "
                                  "/etc/aishell/config.yaml")


def schema_json() -> str:
    """The schema as published in docs/config.schema.json."""
    return json.dumps(SCHEMA, indent=2) + "\n"


if __name__ == "__main__":
    print(schema_json(), end="")
