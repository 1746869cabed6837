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

    def internal_network_sysctls(self) -> list[str]:
        # Docker's internal bridge still answers ARP for the subnet: an address with no one behind it
        # would hang for three seconds of ARP probes; one probe of 0.1 s makes it fail fast. (Podman's
        # internal networks have no route at all: connecting fails at once.)
        return ["net.ipv4.neigh.eth0.mcast_solicit=1", "net.ipv4.neigh.eth0.retrans_time_ms=100"]
