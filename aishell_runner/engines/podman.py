"""Podman: rootless with --userns=keep-id (the user is itself inside), rootful like Docker."""

from __future__ import annotations

import os

from .base import Engine, Identity


class Podman(Engine):
    name = "podman"

    def identity_args(self, identity: Identity) -> list[str]:
        if os.geteuid() != 0:
            # keep-id maps the user to the same UID/GID inside and writes its
            # passwd entry, so files created inside are the user's on the host.
            return ["--userns=keep-id", "--user", f"{identity.uid}:{identity.gid}"]
        return ["--user", f"{identity.uid}:{identity.gid}"]

    def uses_passwd_files(self) -> bool:
        return os.geteuid() == 0  # rootless keep-id writes the user's entry itself
