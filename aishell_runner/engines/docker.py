"""Docker Engine: the host UID/GID inside, with passwd and group entries that match.

Docker maps no user namespace: running as the host's UID/GID makes files created in the project the
user's own, and the passwd/group files (rendered by the sandbox_launch role) give that UID a name and a
home. Everything else is the base Engine's.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import docker_api
from .base import ENGINE_TIMEOUT, Engine

DAEMON_JSON = Path("/etc/docker/daemon.json")


class Docker(Engine):
    name = "docker"

    def from_service(self, kind: str, names: tuple[str, ...]) -> dict[str, dict] | None:
        """The documents the daemon has, asked over its socket (docker_api.py); None where the client must be
        asked instead: another daemon chosen (DOCKER_HOST, a context), or no answer to read."""
        from . import _local_docker_socket  # here: the package imports this module

        path = _local_docker_socket()
        if path is None:
            return None
        try:
            return docker_api.inspect(path, kind, names, ENGINE_TIMEOUT)
        except TimeoutError:
            raise self._hung(["docker", kind, "inspect", *names], ENGINE_TIMEOUT) from None
        except (OSError, ValueError):
            return None  # not ours to connect to (permissions), or not the daemon: the client says why

    def has_runtime(self, runtime: str) -> bool:
        # The daemon's registered runtimes (daemon.json's `runtimes`, --add-runtime), by name.
        run = self.run("info", "--format", "{{json .Runtimes}}")
        try:
            return run.returncode == 0 and runtime in (json.loads(run.stdout or "null") or {})
        except ValueError:
            return False

    def runtime_config_paths(self) -> list[Path] | None:
        from . import _local_docker_socket  # here: the package imports this module

        socket = _local_docker_socket()
        return None if socket is None else [DAEMON_JSON, Path(socket)]
