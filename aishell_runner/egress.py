"""Allowlist networking: the shared egress proxy, and each session's place behind it.

A sandbox in allowlist mode sits alone on an internal network with no route
anywhere and no resolver; its only way out is the egress proxy (squid, see
roles/egress_proxy), which relays a request only when the host name is on
that session's allowlist. The proxy is one per engine and user, started by
the launch playbook and reused by every session.

A session is known to the proxy by its address: before the sandbox starts,
`register` picks a free address on the internal network and writes the
session's allowlist to clients/<address>; the sandbox is started with that
`--ip`, and the file is removed when the session ends. Creating the file is
the reservation (a hard link cannot replace an existing one), so concurrent
launches never share an address.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import random
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .agents import REGISTRY as AGENT_REGISTRY
from .background import in_background
from .errors import AishellError
from .paths import state_dir

if TYPE_CHECKING:
    from .engines.base import Engine

PORT = 3128
CONFIG_LABEL = "org.aishell.egress-config"
REGISTRY_HOSTS = {
    "npm": ["registry.npmjs.org"],
    "pypi": ["pypi.org", "files.pythonhosted.org"],
    "debian": ["deb.debian.org", "security.debian.org"],
    "github": ["github.com", "codeload.github.com", "*.githubusercontent.com"],
}
# Never through the proxy: the sandbox's own loopback.
NO_PROXY = "localhost,127.0.0.1,::1"
# Bumped when the role makes the networks differently, so that a running proxy of the old kind is made anew
# (2: Podman's sandboxes' network has no DNS, hence no resolver and no gateway address on the host).
NETWORK_LAYOUT = 3  # 3: the credential broker in the proxy's network namespace
# What points the tools inside at the proxy (Node's own fetch needs the last one).
ENV_NAMES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "NODE_USE_ENV_PROXY")


@dataclass(frozen=True)
class Names:
    """One user's proxy, its networks and its allowlist directory."""

    proxy: str
    outbound: str
    sandboxes: str
    subnet: str
    config_dir: Path
    broker: str  # the credential broker's container (credentials.py)
    broker_dir: Path

    @property
    def clients(self) -> Path:
        return self.config_dir / "clients"


def names_for(uid: int, subnet: str | None) -> Names:
    # Per user: on a shared Docker Engine, each user's sessions have their own proxy and allowlist directory.
    return Names(proxy=f"aishell-egress-{uid}", outbound=f"aishell-egress-{uid}",
                 sandboxes=f"aishell-sandboxes-{uid}", subnet=subnet or f"10.213.{uid % 256}.0/24",
                 config_dir=state_dir() / "egress", broker=f"aishell-broker-{uid}", broker_dir=state_dir() / "broker")


def allowlist(harness: str, allow: tuple[str, ...], registries: tuple[str, ...]) -> list[str]:
    """The agent's own hosts, then the registries asked for, then the settings' hosts; no repeats."""
    hosts = [*AGENT_REGISTRY[harness].hosts, *(h for r in registries for h in REGISTRY_HOSTS[r]), *allow]
    return list(dict.fromkeys(hosts))


def config_hash(image_inputs: str, names: Names, internal_hosts: dict[str, str]) -> str:
    """What the running proxy must match (its label); anything else makes the launch recreate it."""
    inputs = {"image": image_inputs, "names": [names.proxy, names.outbound, names.sandboxes, names.subnet,
                                               names.broker],
              "config_dir": str(names.config_dir), "broker_dir": str(names.broker_dir),
              "internal_hosts": internal_hosts, "layout": NETWORK_LAYOUT}
    return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()


def role_vars(engine: str, names: Names, wanted_hash: str, internal_hosts: dict[str, str],
              image: str) -> dict[str, object]:
    """Extra vars for the egress_proxy role (`image`: the proxy's image by its own tag), and for the
    sandbox_image role to build that image."""
    return {
        "sandbox_image_egress": True,
        "egress_proxy_image": image,
        "egress_proxy_engine": engine,
        "egress_proxy_name": names.proxy,
        "egress_proxy_outbound_network": names.outbound,
        "egress_proxy_sandbox_network": names.sandboxes,
        "egress_proxy_subnet": names.subnet,
        "egress_proxy_config_dir": str(names.config_dir),
        "egress_proxy_internal_hosts": internal_hosts,
        "egress_proxy_config_hash": wanted_hash,
        "egress_proxy_broker_dir": str(names.broker_dir),
        "egress_proxy_broker_name": names.broker,
        # The owner of the credentials' files: Docker runs it as the user; rootless Podman's root is the user.
        "egress_proxy_broker_user": "0:0" if engine == "podman" else f"{os.getuid()}:{os.getgid()}",
    }


@dataclass(frozen=True)
class Proxy:
    address: ipaddress.IPv4Address
    network: ipaddress.IPv4Network

    @property
    def url(self) -> str:
        return f"http://{self.address}:{PORT}"

    def env(self) -> dict[str, str]:
        """The variables that send the tools inside through the proxy (Node's fetch needs its own switch)."""
        values = [self.url, self.url, NO_PROXY] * 2 + ["1"]
        return dict(zip(ENV_NAMES, values, strict=True))


def running_proxy(engine: Engine, names: Names, wanted_hash: str) -> Proxy | None:
    """The proxy when it runs with the wanted configuration on both of its networks, else None.

    Two questions side by side (engine.inspect): the proxy's and the credential broker's state, and whether
    the networks still exist. A running proxy can be left without one (removed or disconnected from outside):
    a sandbox started on a network that is gone fails at launch, and one behind a proxy without its outbound
    network reaches nothing. The broker must run with the proxy's configuration.
    """
    networks = in_background(engine.inspect, "network", names.outbound, names.sandboxes)
    containers = engine.inspect("container", names.proxy, names.broker)
    if containers is None or networks() is None:
        return None
    for container in containers:
        labels = (container.get("Config") or {}).get("Labels") or {}
        if (container.get("State") or {}).get("Running") is not True or labels.get(CONFIG_LABEL) != wanted_hash:
            return None
    attachments = (containers[0].get("NetworkSettings") or {}).get("Networks") or {}
    attached = attachments.get(names.sandboxes) or {}
    if names.outbound not in attachments or not attached.get("IPAddress"):
        return None
    interface = ipaddress.IPv4Interface(f"{attached['IPAddress']}/{attached['IPPrefixLen']}")
    return Proxy(interface.ip, interface.network)


def register(proxy: Proxy, names: Names, session: str, hosts: list[str], brokered: Iterable[str] = ()) -> str:
    """Reserve a free address for `session` and publish its allowlist there, with the hosts whose requests
    go through the credential broker; returns the address."""
    names.clients.mkdir(parents=True, exist_ok=True)
    content = "".join(f"{line}\n" for line in [f"session={session}", *hosts, *(f"broker={h}" for h in brokered)])
    with tempfile.NamedTemporaryFile("w", dir=names.clients, prefix=".new-", delete=False) as draft:
        draft.write(content)
    os.chmod(draft.name, 0o644)  # the proxy reads it as its own unprivileged user
    try:
        gateway = next(proxy.network.hosts())  # reserved by the engine, though no one holds it
        free = [host for host in proxy.network.hosts() if host not in (gateway, proxy.address)]
        random.shuffle(free)
        for address in free:
            try:
                os.link(draft.name, names.clients / str(address))
            except FileExistsError:
                continue
            return str(address)
    finally:
        os.unlink(draft.name)
    raise AishellError(f"no free address left on {names.sandboxes} ({proxy.network})",
                       hint="`aishell-run gc` frees the addresses of sessions that are gone")


def unregister(names: Names, address: str) -> None:
    (names.clients / address).unlink(missing_ok=True)


def sessions_of(names: Names) -> dict[str, str]:
    """Registered client address -> session id."""
    found = {}
    for path in names.clients.glob("[0-9]*") if names.clients.is_dir() else ():
        first = path.read_text(errors="replace").partition("\n")[0]
        found[path.name] = first.removeprefix("session=")
    return found


def forget_gone(names: Names, live_sessions: set[str]) -> list[str]:
    """Remove the registrations of sessions whose sandbox is gone (a killed wrapper's); returns them."""
    gone = []
    for address, session in sessions_of(names).items():
        if session not in live_sessions:
            unregister(names, address)
            gone.append(session)
    return gone
