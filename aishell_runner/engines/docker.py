"""Docker Engine: the host UID/GID inside, with passwd and group entries that match.

Docker maps no user namespace: running as the host's UID/GID makes files created in the project the
user's own, and the passwd/group files (rendered by the sandbox_launch role) give that UID a name and a
home. Everything else is the base Engine's.
"""

from __future__ import annotations

from .base import Engine


class Docker(Engine):
    name = "docker"
