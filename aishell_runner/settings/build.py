"""The merged layers turned into the built `Settings`: paths expanded, mounts checked against the host."""

from __future__ import annotations

import copy
import math
import os
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aishell_runner.agents import AGENTS, REGISTRY
from aishell_runner.settings.checks import _unsafe_character, value_problems
from aishell_runner.settings.layers import DEFAULT_DOCKERFILE, _exists
from aishell_runner.settings.merge import _Merged
from aishell_runner.settings.model import (
    AgentSettings,
    Credential,
    EnvVar,
    ImageSettings,
    KeyPath,
    Mount,
    NetworkSettings,
    Resources,
    ScanRule,
    ScanSettings,
    SecuritySettings,
    Settings,
    SettingsError,
    WorktreeSettings,
    _show,
)
from aishell_runner.settings.schema import default

# --------------------------------------------------------------------------------------------------- build

ENGINE_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock", "/run/podman/podman.sock")
ENGINE_WORDS = ("docker", "podman", "containerd")


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
              for name in ("read_only_root", "add_capabilities", "no_new_privileges", "seccomp", "runtime")}
    return SecuritySettings(**{**fields, "add_capabilities": tuple(dict.fromkeys(fields["add_capabilities"]))})


def _credentials(merged: _Merged) -> tuple[Credential, ...]:
    """`credentials:` by variable: a nearer layer's declaration replaces a farther one's (lists concatenate
    farthest first, so the last wins); one variable declared twice in one layer is an error."""
    found: dict[str, Credential] = {}
    declared: dict[tuple[Path, str, str], int] = {}  # (file, "credentials" or "locks", variable) -> index
    for index, item in enumerate(merged.data.get("credentials", default("credentials"))):
        variable = item["variable"]
        origin = merged.origins.get(("credentials", index))
        where = (origin[0].path, str(origin[1][0]), variable) if origin else None
        if where is not None and where in declared:
            first = merged.origins[("credentials", declared[where])]
            line = first[0].node_at(first[1])[1]
            raise merged.error(("credentials", index, "variable"),
                               f"{variable} is declared twice in this file (also at line {line})",
                               "keep one declaration; a nearer settings file's declaration of a variable "
                               "replaces a farther one's")
        if where is not None:
            declared[where] = index
        found.pop(variable, None)
        found[variable] = Credential(
            variable=variable,
            hosts=tuple(dict.fromkeys(host.lower() for host in item["hosts"])),
            header=item.get("header"),
            format=item.get("format"),
        )
    return tuple(found.values())


def _build(merged: _Merged, context: _Context, sources: tuple[Path, ...]) -> Settings:
    data = merged.data

    def failing(path: KeyPath) -> Callable[[str, str], SettingsError]:
        return lambda problem, hint: merged.error(path, problem, hint)

    # The value checks on the merged values: the schema's patterns let a trailing newline through (see
    # checks.py), and some checks say more than a pattern can.
    for path, problem, hint in value_problems(data):
        raise merged.error(path, problem, hint)

    agents = {}
    for agent in AGENTS:
        conf = data.get("agents", {}).get(agent, {})
        upstream = conf.get("upstream", default(f"agents.{agent}.upstream"))
        agents[agent] = AgentSettings(version=conf.get("version"), args=tuple(conf.get("args", ())),
                                      autonomous=conf.get("autonomous", default(f"agents.{agent}.autonomous")),
                                      upstream=upstream.rstrip("/") if upstream else upstream)

    mounts = tuple(
        _parse_mount(spec, context, failing(("mounts", index))) for index, spec in enumerate(data.get("mounts", ()))
    )

    env = []
    for item in data.get("env", ()):
        name, sep, value = item.partition("=")
        env.append(EnvVar(name=name, value=value if sep else None))

    ports = tuple(data.get("ports", ()))

    limits = data.get("resources", {})
    cpus = limits.get("cpus")
    if cpus is not None:
        try:
            cpus = float(cpus)
        except OverflowError:
            cpus = math.inf
        if not math.isfinite(cpus):
            raise merged.error(("resources", "cpus"), "cpus must be a finite number", "e.g. cpus: 2")
    resources = Resources(cpus=cpus, memory=limits.get("memory"), pids=limits.get("pids"))

    image = data.get("image", {})
    ca_bundle = image.get("ca_bundle", default("image.ca_bundle"))
    if ca_bundle not in ("auto", "none"):
        ca_bundle = str(_file_setting(ca_bundle, "CA bundle", context, failing(("image", "ca_bundle"))))
    dockerfile = image.get("dockerfile")
    if dockerfile is not None:
        dockerfile = _file_setting(dockerfile, "Dockerfile", context, failing(("image", "dockerfile")))
    elif _exists(context.project / DEFAULT_DOCKERFILE):
        dockerfile = context.project / DEFAULT_DOCKERFILE

    exclude = tuple(data.get("exclude", ()))
    include = tuple(data.get("worktree", {}).get("include", ()))
    security = data.get("security", {})
    network = data.get("network", {})
    scan = data.get("scan", {})
    rules = tuple(
        ScanRule(id=rule["id"], severity=rule["severity"], patterns=tuple(rule["patterns"]),
                 description=rule.get("description", ""))
        for rule in scan.get("rules", ())
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
        credentials=_credentials(merged),
    )


