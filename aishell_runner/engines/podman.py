"""Podman: rootless with --userns=keep-id (the user is itself inside), rootful like Docker.

Secret variables go in as Podman secrets, which `podman inspect` does not
show, unlike `--env`. They are mounted as files and exported by a one-line
loader before the command: `type=env` secrets would be simpler, but Podman
4.3 (Debian 12) still prints their values in `inspect`. Each session gets its
own secrets, removed when it ends (and by `aishell-run gc` if the wrapper was
killed).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from ..errors import AishellError
from . import podman_api
from .base import ENGINE_TIMEOUT, Engine, env_options

# Where `bootstrap --gvisor` puts the runsc that the engines run (roles/container_runtime/vars/main.yml).
GVISOR_WRAPPER = "/usr/local/lib/aishell/runsc"
SECRET_PREFIX = "aishell-"
SECRET_TARGET = "aishell-env-"  # mounted as /run/secrets/aishell-env-NAME
# Exports each mounted secret file as the variable it is named after, then runs the command.
LOADER = ["sh", "-c",
          'for f in /run/secrets/aishell-env-*; do [ -f "$f" ] && export "${f#/run/secrets/aishell-env-}=$(cat "$f")"; '
          'done; exec "$@"',
          "aishell-secrets"]


class Podman(Engine):
    name = "podman"
    version_format = "{{.Client.Version}}"  # no daemon: the client is the engine
    storage_format = "{{.Store.GraphDriverName}} {{.Store.GraphRoot}}"

    def __init__(self) -> None:
        self._stored: dict[str, list[str]] = {}  # session -> the secrets pass_env created for it

    service_endpoints = podman_api.ENDPOINTS

    def service_socket(self) -> str | None:
        return podman_api.socket_path()  # our own Podman service's, for this configuration (podman_api.py)

    def service_absent(self, path: str) -> None:
        podman_api.start(path)  # for the launches after this one

    def keeps_user_id(self) -> bool:
        # keep-id maps the user to the same UID/GID inside and writes its passwd entry, so files created
        # inside are the user's on the host.
        return os.geteuid() != 0

    def limits(self) -> str:
        # Rootless Podman cannot use cgroup v1 controllers: it ignores --cpus, --memory and --pids-limit
        # there, with a warning at every launch. RLIMIT_NPROC, counted per user namespace (Linux 5.14+),
        # stops a fork bomb all the same; memory and CPU have no such stand-in (docs/security.md).
        # Only this machine's cgroups say so on Linux: elsewhere (macOS) the engine runs in a Lima VM.
        local_cgroup_v1 = sys.platform == "linux" and not os.path.exists("/sys/fs/cgroup/cgroup.controllers")
        return "nproc" if os.geteuid() != 0 and local_cgroup_v1 else "cgroup"

    def uses_passwd_files(self) -> bool:
        return os.geteuid() == 0  # rootless keep-id writes the user's entry itself

    def has_runtime(self, runtime: str) -> bool:
        # Podman looks the name up in containers.conf's [engine.runtimes] (and its built-in paths) and fails
        # when no such binary exists; `info` then reports the runtime it found. Its built-in list has runsc at
        # /usr/bin/runsc: once the package is installed Podman "has" runsc, registered or not, and may run it
        # without the flags the host needs (seen: every container refused on Linux 6.18). Registered is the
        # wrapper that `bootstrap --gvisor` verified and named (roles/container_runtime/tasks/gvisor.yml).
        run = self.run("--runtime", runtime, "info", "--format", "{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Path}}")
        name, _, path = run.stdout.strip().partition(" ")
        return run.returncode == 0 and name == runtime and (runtime != "runsc" or path == GVISOR_WRAPPER)

    def runtime_refusal(self, runtime: str) -> str | None:
        # Measured with Debian 12's runsc and Podman 4.3: as a rootless user runsc creates no sandbox that has a
        # network ("error setting up chroot: error converting mounts: operation not permitted"); it needs root
        # outside `runsc do` (gVisor issues 311 and 7449). Only --network=none ran, and a sandbox needs the proxy.
        if runtime == "runsc" and os.geteuid() != 0:
            return ("rootless Podman cannot run sandboxes under runsc: gVisor runs containers with a network only "
                    "as root (gVisor issue 7449)")
        return None

    def runtime_config_paths(self) -> list[Path] | None:
        if os.environ.get("CONTAINER_HOST") or os.environ.get("CONTAINER_CONNECTION"):
            return None  # a remote Podman (macOS's Lima VM): its files are not here
        return [Path(path) for path in podman_api.containers_conf_files()]

    def pass_env(self, names: list[str], secret_names: list[str], session: str,
                 env: Mapping[str, str]) -> tuple[list[str], list[str]]:
        as_secrets = [name for name in names if name in secret_names and name in env]
        options = env_options([name for name in names if name not in as_secrets])
        service = podman_api.socket_path() if as_secrets else None
        for name in as_secrets:
            secret = f"{session}-{name}"
            self._stored.setdefault(session, []).append(secret)
            try:
                refusal = self._store_secret(service, secret, name, env)
            except AishellError:
                self.forget_secrets(session)
                raise
            if refusal is not None:
                self.forget_secrets(session)
                raise AishellError(f"podman could not store {name} as a secret: {refusal}",
                                   hint="`podman secret ls` shows what is stored; `aishell-run gc` cleans up")
            options += ["--secret", f"{secret},type=mount,target={SECRET_TARGET}{name}"]
        return options, (LOADER if as_secrets else [])

    def _store_secret(self, service: str | None, secret: str, name: str, env: Mapping[str, str]) -> str | None:
        """Store env[name] as `secret`, through our service (podman_api.py) when it answers, else the client;
        None when stored, else the client's reason."""
        if service is not None:
            try:
                podman_api.create_secret(service, secret, os.fsencode(env[name]), ENGINE_TIMEOUT)
                return None
            except TimeoutError:
                raise self._hung(["podman", "secret", "create", secret], ENGINE_TIMEOUT) from None
            except (OSError, ValueError):
                pass  # the client stores it, or says why it cannot
        create = self.run("secret", "create", "--env=true", secret, name, env=env)
        return None if create.returncode == 0 else create.stderr.strip()

    def forget_secrets(self, session: str) -> None:
        stored = self._stored.pop(session, [])
        service = podman_api.socket_path() if stored else None
        left = stored if service is None else [secret for secret in stored if not self._removed(service, secret)]
        if left:
            self.run("secret", "rm", *left)

    def _removed(self, service: str, secret: str) -> bool:
        try:
            podman_api.remove_secret(service, secret, ENGINE_TIMEOUT)
            return True
        except (OSError, ValueError):  # a hang too: the client tries next, and names a hang itself
            return False

    def cleanup_steps(self, session: str) -> list[list[str]]:
        stored = self._stored.get(session, [])
        return [*super().cleanup_steps(session), *([self.command("secret", "rm", *stored)] if stored else [])]

    def leftover_secrets(self, live_sessions: set[str]) -> list[str]:
        gone = [s for s in self._secrets() if not any(s.startswith(f"{live}-") for live in live_sessions)]
        for secret in gone:
            self.run("secret", "rm", secret)
        return gone

    def _secrets(self) -> list[str]:
        run = self.run("secret", "ls", "--format", "{{.Name}}")
        return [name for name in run.stdout.split() if name.startswith(SECRET_PREFIX)]
