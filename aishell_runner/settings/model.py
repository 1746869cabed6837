"""The built settings' records, SettingsError, and the key-path helpers every part of settings uses.

The records are NamedTuples, not frozen dataclasses: every launch imports them (a cached Settings is unpickled),
and a frozen dataclass costs half a millisecond to define (dataclasses compiles its methods at import) where a
NamedTuple costs a tenth of that; dataclasses' own imports (inspect, ast, dis) are spared too.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, NamedTuple

from aishell_runner.errors import EXIT_USAGE, AishellError

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


class Mount(NamedTuple):
    """A host directory or file mounted into the sandbox."""

    source: Path
    target: Path
    readonly: bool


class EnvVar(NamedTuple):
    """A variable passed into the sandbox: the host's value, or a literal one."""

    name: str
    value: str | None  # None: pass the host's value of `name`


class AgentSettings(NamedTuple):
    """One agent's settings (agents.NAME)."""

    version: str | None
    args: tuple[str, ...]
    autonomous: bool
    # The base URL the egress broker sends this agent's API requests to, with the real credential, instead
    # of the provider's own host (an LLM gateway, a local test API); None: the provider's.
    upstream: str | None = None


class Credential(NamedTuple):
    """A credential the user declares for the egress broker: the sandbox sees a placeholder in `variable`, and
    the broker puts the real value in only on requests to `hosts` (in `header`, written as `format`)."""

    variable: str  # the environment variable that holds it on the host
    hosts: tuple[str, ...]  # host names as in network.allow: api.example.com, *.example.com (lower case)
    header: str | None  # the HTTP header it travels in; None: any (the broker's rules: docs/security.md)
    format: str | None  # that header's value as the broker writes it, {value} once; None: the placeholder swapped


class Resources(NamedTuple):
    """The sandbox's resource limits (resources:)."""

    cpus: float | None
    memory: str | None
    pids: int | None


class ImageSettings(NamedTuple):
    """How the images are built (image:)."""

    base_source: str
    fallback: bool
    ca_bundle: str
    dockerfile: Path | None


class ScanRule(NamedTuple):
    """A name rule the settings add (scan.rules)."""

    id: str
    severity: str
    patterns: tuple[str, ...]
    description: str


class ScanSettings(NamedTuple):
    """The sensitive-file scan's settings (scan:)."""

    content: bool
    allow: tuple[str, ...]
    rules: tuple[ScanRule, ...]


class SecuritySettings(NamedTuple):
    """The sandbox's hardening (security:)."""

    read_only_root: bool
    add_capabilities: tuple[str, ...]
    no_new_privileges: bool
    seccomp: str
    # runc, runsc or auto as the settings say; a plan holds the one a launch uses (engines/runtimes.py).
    runtime: str = "runc"


class NetworkSettings(NamedTuple):
    """Allowlist, open or no network (network:)."""

    mode: str
    allow: tuple[str, ...]
    registries: tuple[str, ...]
    internal_hosts: dict[str, str]
    subnet: str | None


class WorktreeSettings(NamedTuple):
    """Agent branches' settings (worktree:)."""

    include: tuple[str, ...] = ()


class Settings(NamedTuple):
    """The three layers merged, checked and built: everything a command reads from the settings."""

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
    credentials: tuple[Credential, ...] = ()




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
