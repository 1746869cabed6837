"""The JSON schema (the one source of docs/config.schema.json), the defaults, and schema validation with its cache."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aishell_runner.agents import AGENTS, HARNESSES
from aishell_runner.paths import cache_dir
from aishell_runner.settings.checks import (
    CAPABILITY_PATTERN,
    ENV_NAME_PATTERN,
    ENV_PATTERN,
    FORMAT_PATTERN,
    HEADER_PATTERN,
    HOST_PATTERN,
    IPV4_PATTERN,
    MEMORY_PATTERN,
    PORT_PATTERN,
    RULE_ID_PATTERN,
    SUBNET_PATTERN,
    UPSTREAM_PATTERN,
    VERSION_PATTERN,
)

if TYPE_CHECKING:
    import jsonschema


ENGINES = ("auto", "docker", "podman")
BASE_SOURCES = ("registry", "debootstrap")
NETWORK_MODES = ("allowlist", "open", "none")
REGISTRIES = ("npm", "pypi", "debian", "github")
# The OCI runtime of a sandbox: runc is the engine's own (runc or crun, on the host's kernel), runsc is gVisor's
# (a kernel of its own in user space), auto is runsc where the engine has it registered, else runc.
RUNTIMES = ("runc", "runsc", "auto")



# --------------------------------------------------------------------------------------------------- schema


# Every setting's default, in one place: the schema publishes them (docs/config.schema.json), the built
# Settings take them, `aishell-run settings` reports them. `agents.*` is each agent. Resource limits have
# no default here: unset, each is the host's (plan.host_default_resources: all CPUs but one, half the
# memory, 4096 processes).
DEFAULTS: dict[str, Any] = {
    "engine": "auto",
    "harness": "claude",
    "agents.*.autonomous": True,
    "agents.*.upstream": None,
    "image.base_source": "registry",
    "image.fallback": True,
    "image.ca_bundle": "auto",
    "network.mode": "allowlist",
    "credentials": [],
    "scan.content": True,
    "security.read_only_root": False,
    "security.add_capabilities": [],
    "security.no_new_privileges": True,
    "security.seccomp": "default",
    "security.runtime": "runc",
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
            "upstream": _text(
                f"Base URL the credential broker sends {agent}'s API requests to, with the real credential, "
                "instead of the provider's host: http(s)://HOST[:PORT][/PATH], e.g. an LLM gateway. Only in "
                "the system or user settings, never a project's.",
                pattern=UPSTREAM_PATTERN,
            ),
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
                    "No longer used: allowlist sandboxes have no network since 2.6 (they reach the proxy "
                    "through a Unix socket). Accepted so that older settings load; it changes nothing.",
                    pattern=SUBNET_PATTERN,
                ),
            },
        ),
        "credentials": _list(
            "Credentials beyond the agents' own, for the credential broker: the sandbox sees a placeholder in "
            "the variable, the broker puts the real value in only on requests to the credential's hosts. Only "
            "in the system or user settings, never a project's. A nearer layer's declaration of a variable "
            "replaces a farther one's.",
            {
                "type": "object",
                "description": "A credential, e.g. {variable: GITHUB_TOKEN, hosts: [api.github.com], "
                               'header: Authorization, format: "token {value}"}.',
                "additionalProperties": False,
                "required": ["variable", "hosts"],
                "dependentRequired": {"format": ["header"]},
                "properties": {
                    "variable": _text("The host's environment variable that holds the credential, e.g. "
                                      "GITHUB_TOKEN.", pattern=ENV_NAME_PATTERN),
                    "hosts": {**_list("The hosts the credential may be sent to, as in network.allow: "
                                      "api.example.com (exactly), *.example.com (its subdomains).",
                                      _text("A host name, or *. and a domain.", pattern=HOST_PATTERN)),
                              "minItems": 1},
                    "header": _text("The HTTP header the credential goes in, e.g. Authorization or x-api-key.",
                                    pattern=HEADER_PATTERN),
                    "format": _text('The header\'s value as the broker writes it, with {value} once where the '
                                    'credential goes, e.g. "Bearer {value}"; needs header.',
                                    pattern=FORMAT_PATTERN),
                },
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
                "runtime": _text(
                    "The sandbox's kernel: runc (the engine's own runtime, on the host's kernel), runsc (gVisor: a "
                    "kernel of its own in user space, a second wall between the agent and the host's kernel) or "
                    "auto (runsc where the engine has it registered, else runc). `sudo aishell-run bootstrap "
                    "--gvisor` installs and registers runsc. See docs/security.md.",
                    enum=list(RUNTIMES),
                ),
            },
        ),
        # The rules themselves are checked in locks.py, which knows the key each lock names.
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



def schema_json() -> str:
    """The schema as published in docs/config.schema.json."""
    return json.dumps(SCHEMA, indent=2) + "\n"
