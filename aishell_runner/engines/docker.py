"""Docker Engine: the host UID/GID inside, with passwd and group entries that match."""

from __future__ import annotations

from .base import Engine, Identity


class Docker(Engine):
    name = "docker"

    def identity_args(self, identity: Identity) -> list[str]:
        # Docker maps no user namespace: running as the host's UID/GID makes
        # files created in the project the user's own. The passwd/group files
        # (rendered by the launch playbook) give that UID a name and a home.
        return ["--user", f"{identity.uid}:{identity.gid}"]
