"""Which OCI runtime a sandbox runs under (`security.runtime`), and whether the engine has gVisor's.

runc is the engine's own runtime (runc or crun: the host's kernel); runsc is gVisor's, a kernel of its own
in user space, which the engine knows only once `aishell-run bootstrap --gvisor` registered it
(roles/container_runtime/tasks/gvisor.yml). `auto` is runsc where the engine has it, else runc. Rootless
Podman cannot run it at all (Engine.runtime_refusal): there runsc is refused and auto is runc.

Asking an engine costs 50 to 300 ms (`docker info`, `podman info`), too much for every warm launch. The
answer is kept in the state directory under a key made of the files that register a runtime (daemon.json,
containers.conf and its drop-ins, the runsc binary) and the daemon's socket, which a restart makes anew:
stat calls, no engine. A refusal is never taken from the cache: before one, the engine is asked again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from ..errors import EXIT_ENGINE_UNAVAILABLE, AishellError, UsageError
from ..paths import state_dir
from .base import Engine

GVISOR = "runsc"
BOOTSTRAP_HINT = "sudo aishell-run bootstrap --engine {engine} --gvisor"


def resolve(setting: str, engine: Engine) -> str:
    """The runtime a launch uses for the setting `runc`, `runsc` or `auto`: runc or runsc.

    `runsc` on an engine without it is an AishellError (exit 4) naming the setting, the engine and the
    bootstrap command that registers it; nothing has been started then."""
    if setting == "runc":
        return "runc"  # the engine's own: no question to ask
    refusal = engine.runtime_refusal(GVISOR)
    if refusal is not None:
        if setting == "auto":
            return "runc"
        raise refused(engine.name, refusal)
    if available(engine, GVISOR):
        return GVISOR
    if setting == "auto":
        return "runc"
    if available(engine, GVISOR, fresh=True):  # a cached "no" never refuses a launch
        return GVISOR
    raise missing(engine.name, setting)


# gVisor's kernel counts its own threads (and, on the ptrace platform, a host process per sandbox process)
# against the sandbox's pids limit: with 64 a sandbox did not start at all (exit 2, nothing printed), with
# 96 it did (docs/security.md, "A second wall").
GVISOR_MIN_PIDS = 96


def check_limits(runtime: str, pids: int | None) -> None:
    """Refuses a pids limit that `runtime` cannot start a sandbox under, before anything starts."""
    if runtime == GVISOR and pids is not None and pids < GVISOR_MIN_PIDS:
        raise UsageError(
            f"resources.pids is {pids}, but a sandbox under gVisor (security.runtime) needs at least "
            f"{GVISOR_MIN_PIDS}: gVisor's own threads count against the limit, and below it the sandbox does not "
            "start; nothing was started",
            hint=f"set resources.pids to {GVISOR_MIN_PIDS} or more (`aishell-run settings` shows where it is set), "
                 "or security.runtime: runc")


def missing(engine: str, setting: str = GVISOR) -> AishellError:
    """The error for a runsc that `engine` lacks; `setting` is security.runtime as the settings give it."""
    bootstrap = (f"run `{BOOTSTRAP_HINT.format(engine=engine)}` (it installs runsc from the distribution's "
                 "packages where they have it and registers it)")
    if setting == "auto":  # a warm launch that found runsc gone: the next one picks runc by itself
        return AishellError(f"security.runtime is auto and chose runsc (gVisor), but {engine} no longer has a "
                            "runsc runtime registered",
                            hint=f"launch again (auto now picks runc), or {bootstrap}",
                            exit_code=EXIT_ENGINE_UNAVAILABLE)
    return AishellError(
        f"security.runtime is runsc (gVisor), but {engine} has no runsc runtime registered",
        hint=f"{bootstrap}, or set security.runtime: auto or runc where the settings allow it (`aishell-run "
             "settings` shows which file sets it); `aishell-run check` says what this machine has",
        exit_code=EXIT_ENGINE_UNAVAILABLE)


def refused(engine: str, refusal: str) -> AishellError:
    """The error for security.runtime: runsc on an engine that cannot run it however it is set up."""
    return AishellError(
        f"security.runtime is runsc (gVisor), but {refusal}; nothing was started",
        hint=f"launch with rootful Docker or Podman, where `{BOOTSTRAP_HINT.format(engine='docker')}` "
             "registers runsc, or set security.runtime: auto (runc with this engine) or runc where the settings "
             "allow it (`aishell-run settings` shows which file sets it)",
        exit_code=EXIT_ENGINE_UNAVAILABLE)


def available(engine: Engine, runtime: str, *, fresh: bool = False) -> bool:
    """Whether `engine` can run containers under `runtime`, from the cache unless `fresh` or stale."""
    key = _key(engine, runtime)
    record = _record_file(engine, runtime)
    if key is not None and not fresh:
        try:
            cached = json.loads(record.read_text())
            if cached.get("key") == key:
                return bool(cached["available"])
        except (OSError, ValueError, KeyError, AttributeError):
            pass  # no record, or a damaged one: ask
    answer = engine.has_runtime(runtime)
    if key is not None:
        try:
            record.parent.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps({"key": key, "available": answer}) + "\n")
        except OSError:
            pass  # only a cache
    return answer


def _record_file(engine: Engine, runtime: str) -> Path:
    return state_dir() / "engines" / f"{engine.name}-{runtime}.json"


def _key(engine: Engine, runtime: str) -> str | None:
    """A digest of what registers runtimes with `engine` here, or None when that is not on this machine
    (a remote engine: then every check asks it)."""
    paths = engine.runtime_config_paths()
    if paths is None:
        return None
    binary = shutil.which(runtime)
    stats = []
    for path in [*paths, *([Path(binary)] if binary else [])]:
        try:
            found = os.stat(path)
            stats.append((str(path), found.st_ino, found.st_mtime_ns, found.st_ctime_ns, found.st_size))
        except OSError:
            stats.append((str(path), None))
    return hashlib.sha256(json.dumps([runtime, stats]).encode()).hexdigest()
