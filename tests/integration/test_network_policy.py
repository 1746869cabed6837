"""The network policy inside real sandboxes, on Docker and rootful Podman (as root) and rootless Podman (as the
test user).

Allowlist mode, the default. The stand-ins: a web server in a container on the
proxy's own outbound network (answering as allowed.test and denied.test, given
to the proxy through the user settings' internal_hosts), and a web server on
this host listening on every address (the host's loopback and LAN services).
One sandbox session runs every probe (tests/integration/network_probes.py);
each probe is its own test.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.integration.conftest import Sandbox, new_sandbox

PROBES = Path(__file__).with_name("network_probes.py")
SERVER_PORT = 8080
FOUNDATION = "localhost/aishell-foundation:latest"
FAST = 1.0  # seconds: a refusal must come well before a timeout


def host_addresses() -> list[str]:
    run = subprocess.run(["ip", "-j", "-4", "addr"], capture_output=True, text=True, check=True)
    return sorted({a["local"] for i in json.loads(run.stdout) for a in i["addr_info"]} - {"127.0.0.1"})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def host_service():
    """A web server on every address of this host: what a sandbox must never reach."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "0.0.0.0", str(port)],
                              cwd="/var/empty" if os.path.isdir("/var/empty") else "/", stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    yield port
    server.terminate()
    server.wait()


class Lab:
    """A sandbox in allowlist mode, its proxy and the stand-in for outside hosts it probes."""

    def __init__(self, box: Sandbox, server: tuple[str, str]):
        # The stand-in's address on the proxy's outbound network, and its container's name.
        self.box, (self.server, self.server_name) = box, server
        self.uid = box.shell("id -u").stdout.strip()
        # As aishell_runner.egress.names_for has them: the proxy and its outbound network share a name.
        self.proxy = self.outbound = f"aishell-egress-{self.uid}"


# The outbound network as the role makes it (roles/egress_proxy/tasks/main.yml, "Create the outbound network"):
# the role leaves a network of that name and these settings as it is.
CREATE_OUTBOUND = {"docker": "docker network create --label org.aishell.role=egress", "podman": "podman network create"}


@pytest.fixture(scope="module")
def outside_host():
    """The stand-in for outside hosts: a web server in a container on the proxy's outbound network, one for each
    engine and user (Docker's proxy serves docker and docker+runsc alike), started before the engine's first
    launch of this module; returns its address and its container's name for a sandbox (configured: its images
    are the server's).

    Started first, its address is in the user settings' internal_hosts when the launch makes the proxy: the
    proxy is made once with them (its configuration label covers internal_hosts, so setting them after a first
    launch made it a second time, about a minute each). The outbound network is made here when absent, as the
    role would make it; the proxy, made by the launch, joins it.

    Each server gets a proxy made with it, as when the proxy was made a second time: the server's own name among
    the internal hosts (see `probed`) makes the configuration new. A proxy left running by an earlier run, its
    internal_hosts naming the address a new server was given again, was reused, and twice in five runs answered
    the sessions' requests for the server with 503 after 3 s (ERR_CONNECT_FAIL 11) while a request from its own
    loopback got the page. The cause is the network, not the proxy: Podman (netavark) gives each container a new
    MAC address, and a peer that reached the old server at that address keeps its ARP entry (measured by hand,
    rootful Podman 4.3: a peer reached the new server after 32.5 s; Docker 20.10 derives the MAC from the
    address, so there the peer reached it at once)."""
    servers: dict[tuple[str, bool], tuple[Sandbox, str, str]] = {}

    def address(box: Sandbox) -> tuple[str, str]:
        key = (box.engine, box.as_user)
        if key not in servers:
            engine, network = box.engine, f"aishell-egress-{box.shell('id -u').stdout.strip()}"
            name = f"aishell-test-allowed-{uuid.uuid4().hex[:8]}"
            if box.shell(f"{engine} image inspect {FOUNDATION} >/dev/null 2>&1", check=False).returncode:
                # This module alone on a fresh machine: what the first launch would build.
                built = box.aishell("build")
                assert built.returncode == 0, built.stderr
            box.shell(f"{engine} network inspect {network} >/dev/null 2>&1 || {CREATE_OUTBOUND[engine]} {network}")
            box.shell(f"{engine} run -d --rm --name {name} --network {network} --user 65534:65534 "
                      f"{FOUNDATION} python3 -m http.server {SERVER_PORT} "
                      "--directory /usr/share/doc")
            # Serving before its address is handed out: the launch may find the proxy made already (a warm one).
            fetch = f"python3 -c 'import urllib.request; urllib.request.urlopen(\"http://127.0.0.1:{SERVER_PORT}/\")'"
            box.shell(f"for _ in $(seq 100); do {engine} exec {name} {fetch} 2>/dev/null && exit 0; sleep 0.2; done; "
                      "exit 1")
            template = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
            servers[key] = (box, name, box.shell(f"{engine} inspect --format '{template}' {name}").stdout.strip())
        return servers[key][2], servers[key][1]

    yield address
    for box, name, _ in servers.values():
        # Podman's --force stops it first, and waits 10 s for the server to heed SIGTERM: --time 0 kills it at once.
        box.shell(f"{box.engine} rm --force {'--time 0 ' if box.engine == 'podman' else ''}{name}", check=False)


# docker+runsc: under gVisor, whose sandboxes here use the host's network stack in their own namespace
# (docs/security.md): the proxy must still be the only way out.
@pytest.fixture(scope="module", params=["docker", "rootless-podman", "rootful-podman", "docker+runsc"])
def probed(request, tmp_path_factory, host_service, outside_host):
    """Runs every probe in one allowlist session; returns (results, lab)."""
    box = new_sandbox(request.param, tmp_path_factory.mktemp("network"))
    try:
        box.configure("network: {mode: allowlist, allow: [allowed.test]}\n")
        lab = Lab(box, outside_host(box))
        names = ("allowed.test", "denied.test", f"{lab.server_name}.test")
        hosts = ", ".join(f"{name}: {lab.server}" for name in names)
        box.configure_user(f"network:\n  internal_hosts: {{{hosts}}}\n")
        box.put(PROBES, "probes.py")
        arguments = {"server": lab.server, "port": SERVER_PORT, "host_port": host_service,
                     "host_addresses": host_addresses()}
        run = box.aishell(f"exec -- python3 probes.py {shlex.quote(json.dumps(arguments))}")
        assert run.returncode == 0, run.stderr
        results = json.loads(run.stdout.strip().splitlines()[-1])
        yield results, lab
    finally:
        box.remove()


def refused_fast(result: dict) -> bool:
    """Not reached, and refused well before a timeout (with no network, every address but loopback is
    unreachable at once)."""
    return not result["reached"] and result["seconds"] < FAST


def test_an_allowlisted_host_is_reached_through_the_proxy(probed):
    results, _ = probed
    assert results["allowed_via_proxy"] == {"reached": True, "result": 200, "seconds": pytest.approx(0, abs=FAST)}
    assert refused_fast(results["allowed_server_directly"])  # so it went through the proxy


def test_a_host_not_on_the_allowlist_is_refused_fast(probed):
    results, _ = probed
    assert results["denied_via_proxy"]["result"] == 403
    assert results["denied_via_proxy"]["seconds"] < FAST


def test_the_cloud_metadata_address_is_unreachable(probed):
    results, _ = probed
    assert refused_fast(results["metadata_directly"]), results["metadata_directly"]
    assert results["metadata_via_proxy"]["result"] == 403


def test_a_host_loopback_service_is_unreachable(probed):
    results, _ = probed
    # 127.0.0.1 inside is the sandbox's own loopback: nothing listens there.
    assert refused_fast(results["loopback_directly"]), results["loopback_directly"]
    assert results["loopback_via_proxy"]["result"] == 403


def test_the_hosts_other_addresses_are_unreachable(probed):
    results, _ = probed
    assert results["host_addresses_directly"], "no host address was probed"
    for address, result in results["host_addresses_directly"].items():
        assert refused_fast(result), (address, result)
    for address, result in results["host_addresses_via_proxy"].items():
        assert result["result"] == 403, (address, result)


def test_ipv6_is_off(probed):
    results, _ = probed
    assert results["ipv6_addresses"] == []
    assert refused_fast(results["ipv6_loopback"]), results["ipv6_loopback"]
    assert refused_fast(results["ipv6_outside"]), results["ipv6_outside"]


def test_there_is_no_network_and_no_resolver_so_dns_cannot_carry_data_out(probed):
    results, _ = probed
    assert refused_fast(results["dns"]), results["dns"]
    assert results["interfaces"] == ["lo"]  # no interface an engine's resolver or a gateway could sit behind


def test_the_network_settings_cannot_be_changed_from_inside(probed):
    results, _ = probed
    assert not results["write_resolv_conf"]["reached"]
    assert not results["raw_socket"]["reached"]  # no NET_RAW, let alone NET_ADMIN for routes
    assert not results["forged_token"]["reached"], results["forged_token"]  # cannot pose as another session
    assert not results["write_gate"]["reached"]  # the gate's directory is read-only
    assert results["token_inherited"] is False  # the command does not inherit the forwarder's token
    assert results["proxy_config_visible"]["result"] is False
    # Without the proxy variables the allowlisted name does not even resolve.
    assert refused_fast(results["allowed_without_proxy"]), results["allowed_without_proxy"]


def test_refusals_are_listed_per_session_and_the_registration_is_gone(probed):
    _, lab = probed
    listed = lab.box.aishell("logs --network --json")
    assert listed.returncode == 0, listed.stderr
    refusals = json.loads(listed.stdout)
    assert any(row["destination"] == f"denied.test:{SERVER_PORT}" for row in refusals), refusals
    assert all(row["session"].startswith("aishell-project-") for row in refusals)
    # No registration left at all is a pass too (the glob then matches nothing and cat fails).
    clients = lab.box.shell("cat ~/.local/state/aishell/egress/clients/* 2>/dev/null", check=False).stdout
    assert "aishell-project-" not in clients


def test_a_proxy_taken_off_its_outbound_network_is_made_anew(probed):
    """The last test of each engine: it makes the proxy anew. A warm launch must not trust a running proxy
    that can no longer reach out (its outbound network gone, or the proxy disconnected from it)."""
    _, lab = probed
    if lab.box.runtime == "runsc":
        pytest.skip("the proxy's side, the same under either runtime (docker's case shows it): 28 s saved")
    box, engine, outbound = lab.box, lab.box.engine, lab.outbound
    box.shell(f"{engine} network disconnect {outbound} {lab.proxy}")
    fetch = ("python3 -c 'import urllib.request; "
             f"print(urllib.request.urlopen(\"http://allowed.test:{SERVER_PORT}/\", timeout=10).status)'")
    run = box.run(fetch)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split()[-1] == "200"
    networks = box.shell(f"{engine} container inspect --format '{{{{json .NetworkSettings.Networks}}}}' "
                         f"{lab.proxy}").stdout
    assert set(json.loads(networks)) == {outbound}
