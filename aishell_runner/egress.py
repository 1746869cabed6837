"""Allowlist networking: the shared egress proxy, and each session's place behind it.

A sandbox in allowlist mode has no network at all (`--network none`: its own
loopback only) and no resolver. Its only way out is the egress proxy (squid,
see roles/egress_proxy), which relays a request only when the host name is on
that session's allowlist. The sandbox reaches squid through the gate: a Unix
socket in the gate's directory, which the sandbox mounts read-only, served by
the broker's process in squid's network namespace (roles/sandbox_image/files/
egress/gate.py); a forwarder inside (gate_client.pl) makes it 127.0.0.1:3128.
The proxy is one per engine and user, started by the launch playbook and
reused by every session.

A session is known to the proxy by a loopback address of its own: before the
sandbox starts, `register` picks a free one and writes the session's allowlist
to clients/<address>, with the digest of the session's token
("ADDRESS/SECRET", handed to the sandbox); the gate connects to squid from the
address the token names, once the file there holds the token's digest. The
file is removed when the session ends. Creating the file is the reservation (a
hard link cannot replace an existing one), so concurrent launches never share
an address.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from .agents import REGISTRY as AGENT_REGISTRY
from .cache_files import new_draft
from .errors import AishellError
from .paths import install_root, state_dir

if TYPE_CHECKING:
    from .engines.base import Engine

PORT = 3128
# Where the sandbox finds the gate's directory (its socket and the forwarder), and the token's variable.
GATE_MOUNT = "/run/aishell-gate"
# The forwarder inside: opens 127.0.0.1:3128, starts its relay (gate_relay.py) and runs the command in its place.
GATE_CLIENT = ["perl", f"{GATE_MOUNT}/gate_client.pl"]
GATE_FILES = ("gate_client.pl", "gate_relay.py")  # roles/egress_proxy/files/, put in the gate's directory
TOKEN_VARIABLE = "AISHELL_GATE_TOKEN"
# The sessions' addresses: 127.64.0.0/10, loopback addresses in squid's network namespace (all of 127.0.0.0/8 is
# local there), 4 million of them.
SESSION_ADDRESS_BASE = (127 << 24) | (64 << 16)
SESSION_ADDRESS_BITS = 22
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
# (2: Podman's sandboxes' network has no DNS; 3: the credential broker in the proxy's network namespace).
NETWORK_LAYOUT = 4  # 4: no sandboxes' network; the gate
# What points the tools inside at the proxy (Node's own fetch needs the last one), and the gate's token.
ENV_NAMES = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "NODE_USE_ENV_PROXY",
             TOKEN_VARIABLE)
URL = f"http://127.0.0.1:{PORT}"


class Names(NamedTuple):
    """One user's proxy, its networks and its allowlist directory."""

    proxy: str
    outbound: str
    config_dir: Path
    broker: str  # the credential broker's container (credentials.py), whose process runs the gate too
    broker_dir: Path
    gate_dir: Path

    @property
    def clients(self) -> Path:
        return self.config_dir / "clients"


def names_for(uid: int) -> Names:
    # Per user: on a shared Docker Engine, each user's sessions have their own proxy and allowlist directory.
    return Names(proxy=f"aishell-egress-{uid}", outbound=f"aishell-egress-{uid}", config_dir=state_dir() / "egress",
                 broker=f"aishell-broker-{uid}", broker_dir=state_dir() / "broker", gate_dir=state_dir() / "gate")


def allowlist(harness: str, allow: tuple[str, ...], registries: tuple[str, ...]) -> list[str]:
    """The agent's own hosts, then the registries asked for, then the settings' hosts; no repeats."""
    hosts = [*AGENT_REGISTRY[harness].hosts, *(h for r in registries for h in REGISTRY_HOSTS[r]), *allow]
    return list(dict.fromkeys(hosts))


def config_hash(image_inputs: str, names: Names, internal_hosts: dict[str, str]) -> str:
    """What the running proxy must match (its label); anything else makes the launch recreate it (and the role
    puts the gate's forwarder, files of its own, in the gate's directory again)."""
    files = install_root() / "roles" / "egress_proxy" / "files"
    forwarder = [hashlib.sha256((files / name).read_bytes()).hexdigest() for name in GATE_FILES]
    inputs = {"image": image_inputs, "names": [names.proxy, names.outbound, names.broker],
              "config_dir": str(names.config_dir), "broker_dir": str(names.broker_dir),
              "gate_dir": str(names.gate_dir), "forwarder": forwarder,
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
        "egress_proxy_config_dir": str(names.config_dir),
        "egress_proxy_gate_dir": str(names.gate_dir),
        "egress_proxy_internal_hosts": internal_hosts,
        "egress_proxy_config_hash": wanted_hash,
        "egress_proxy_broker_dir": str(names.broker_dir),
        "egress_proxy_broker_name": names.broker,
        # The owner of the credentials' files: Docker runs it as the user; rootless Podman's root is the user.
        "egress_proxy_broker_user": "0:0" if engine == "podman" else f"{os.getuid()}:{os.getgid()}",
    }


def proxy_env(token: str) -> dict[str, str]:
    """The variables that send the tools inside through the proxy (Node's fetch needs its own switch), and the
    session's token for the gate's forwarder."""
    return dict(zip(ENV_NAMES, [URL, URL, NO_PROXY] * 2 + ["1", token], strict=True))


def proxy_running(engine: Engine, names: Names, wanted_hash: str) -> bool:
    """Whether the proxy and the broker run with the wanted configuration, the proxy on its outbound network,
    and the gate's socket is there: one question to the engine (engine.inspect).

    A running proxy can be taken off its network from outside (disconnected): then it reaches nothing, and its
    own document says so. The network itself cannot go while the proxy runs on it: Docker and Podman refuse to
    remove a network a running container is on (Podman's --force removes the container with it).
    """
    containers = engine.inspect("container", names.proxy, names.broker)
    if containers is None or not (names.gate_dir / "gate.sock").exists():
        return False
    for container in containers:
        labels = (container.get("Config") or {}).get("Labels") or {}
        if (container.get("State") or {}).get("Running") is not True or labels.get(CONFIG_LABEL) != wanted_hash:
            return False
    return names.outbound in ((containers[0].get("NetworkSettings") or {}).get("Networks") or {})


class Registration(NamedTuple):
    """A session's place behind the proxy."""

    address: str  # the session's loopback address in squid's network namespace: its file's name
    token: str  # what the sandbox's forwarder shows the gate: "ADDRESS/SECRET"


def register(names: Names, session: str, hosts: list[str], brokered: Iterable[str] = ()) -> Registration:
    """Reserve a free address for `session` and publish its allowlist there, with the hosts whose requests
    go through the credential broker and its token's digest (for the gate)."""
    names.clients.mkdir(parents=True, exist_ok=True)
    lines = [f"session={session}", *hosts, *(f"broker={h}" for h in brokered)]
    for _ in range(100):
        # A taken address is drawn again; a hundred draws all taken means a broken directory.
        drawn = SESSION_ADDRESS_BASE + 1 + int.from_bytes(os.urandom(4)) % ((1 << SESSION_ADDRESS_BITS) - 2)
        address = ".".join(str(drawn >> shift & 255) for shift in (24, 16, 8, 0))
        token = f"{address}/{os.urandom(16).hex()}"
        digest = hashlib.sha256(token.encode()).hexdigest()
        with new_draft(names.clients) as draft:
            draft.write("".join(f"{line}\n" for line in [lines[0], f"gate={digest}", *lines[1:]]))
        os.chmod(draft.name, 0o644)  # the proxy reads it as its own unprivileged user
        try:
            os.link(draft.name, names.clients / address)
            return Registration(address, token)
        except FileExistsError:
            continue
        finally:
            os.unlink(draft.name)
    raise AishellError(f"no free address for the session in {names.clients}",
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
