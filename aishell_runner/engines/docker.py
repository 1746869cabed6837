"""Docker Engine: the host UID/GID inside, with passwd and group entries that match.

Docker maps no user namespace: running as the host's UID/GID makes files created in the project the
user's own, and the passwd/group files (rendered by the sandbox_launch role) give that UID a name and a
home. Everything else is the base Engine's.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import docker_api
from .base import Engine

DAEMON_JSON = Path("/etc/docker/daemon.json")


class Docker(Engine):
    name = "docker"

    service_endpoints = docker_api.ENDPOINTS

    def service_socket(self) -> str | None:
        # The daemon's own socket (docker_api.py), where the client would talk to it too: not for another daemon
        # chosen (DOCKER_HOST, a context).
        from . import _local_docker_socket  # here: the package imports this module

        return _local_docker_socket()

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
