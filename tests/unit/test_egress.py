"""Allowlist networking without an engine: allowlists, address registration, the proxy's helper, the gate, argv."""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import ipaddress
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from aishell_runner import egress
from aishell_runner.engines.docker import Docker
from aishell_runner.engines.podman import Podman
from aishell_runner.plan import make_plan
from aishell_runner.session import session_argv, session_command
from tests.unit.test_plan import launch_options

ROOT = Path(__file__).parents[2]
HELPER = ROOT / "roles" / "sandbox_image" / "files" / "egress" / "policy"


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GATE = load(ROOT / "roles" / "sandbox_image" / "files" / "egress" / "gate.py")


@pytest.fixture
def names(tmp_path):
    return egress.Names(proxy="p", outbound="o", config_dir=tmp_path, broker="b", broker_dir=tmp_path / "broker",
                        gate_dir=tmp_path / "gate")


def test_the_allowlist_is_the_agents_hosts_then_registries_then_settings_without_repeats():
    hosts = egress.allowlist("claude", ("api.anthropic.com", "*.example.com"), ("npm",))
    assert hosts[0] == "api.anthropic.com" and hosts.count("api.anthropic.com") == 1
    assert hosts[-2:] == ["registry.npmjs.org", "*.example.com"]
    assert egress.allowlist("shell", (), ()) == []
    assert "api.openai.com" in egress.allowlist("codex", (), ()) and "api.anthropic.com" not in \
        egress.allowlist("codex", (), ())


def test_each_user_gets_its_own_proxy():
    assert egress.names_for(0).proxy != egress.names_for(1000).proxy == "aishell-egress-1000"


def test_a_registration_publishes_the_allowlist_and_the_tokens_digest_and_is_removed(names):
    registration = egress.register(names, "aishell-app-1", ["a.test", "*.b.test"])
    address = registration.address
    assert ipaddress.IPv4Address(address) in ipaddress.IPv4Network("127.64.0.0/10")
    assert registration.token.startswith(f"{address}/") and len(registration.token) > len(address) + 30
    path = names.clients / address
    digest = hashlib.sha256(registration.token.encode()).hexdigest()
    assert path.read_text() == f"session=aishell-app-1\ngate={digest}\na.test\n*.b.test\n"
    assert path.stat().st_mode & 0o777 == 0o644
    assert egress.sessions_of(names) == {address: "aishell-app-1"}
    egress.unregister(names, address)
    assert not path.exists() and list(names.clients.iterdir()) == []  # no draft left behind


def test_concurrent_launches_never_share_an_address_and_a_taken_address_is_drawn_again(names, monkeypatch):
    taken: list[egress.Registration] = []
    threads = [threading.Thread(target=lambda n=n: taken.append(egress.register(names, f"s{n}", [])))
               for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({registration.address for registration in taken}) == 8
    # Every draw taken: a clear error, not a loop without end.
    monkeypatch.setattr(egress, "SESSION_ADDRESS_BITS", 2)  # two addresses: 127.64.0.1 and .2
    egress.register(names, "a", [])
    egress.register(names, "b", [])
    with pytest.raises(egress.AishellError, match="no free address") as raised:
        egress.register(names, "c", [])
    assert "aishell-run gc" in raised.value.hint


def test_gc_forgets_only_the_sessions_that_are_gone(names):
    live = egress.register(names, "live", []).address
    egress.register(names, "gone", [])
    assert egress.forget_gone(names, {"live"}) == ["gone"]
    assert egress.sessions_of(names) == {live: "live"}


def test_the_proxy_variables_point_every_tool_at_the_gates_forwarder_and_carry_the_token():
    env = egress.proxy_env("127.64.0.9/secret")
    assert env["HTTPS_PROXY"] == env["http_proxy"] == "http://127.0.0.1:3128"
    assert env["NO_PROXY"] == "localhost,127.0.0.1,::1" and env["NODE_USE_ENV_PROXY"] == "1"
    assert env[egress.TOKEN_VARIABLE] == "127.64.0.9/secret"
    assert sorted(env) == sorted(egress.ENV_NAMES)


def test_the_gate_knows_a_session_only_by_a_token_its_registration_names(names, monkeypatch):
    monkeypatch.setattr(GATE, "CLIENTS", names.clients)
    registration = egress.register(names, "s1", ["a.test"])
    other = egress.register(names, "s2", [])
    assert GATE.session_address(registration.token) == registration.address
    secret = registration.token.partition("/")[2]
    for forged in (f"{other.address}/{secret}", registration.address, f"{registration.address}/", "",
                   f"10.0.0.1/{secret}", f"../clients/{registration.address}/{secret}", f"{registration.address}/x"):
        assert GATE.session_address(forged) is None, forged
    egress.unregister(names, registration.address)
    assert GATE.session_address(registration.token) is None


def test_a_connection_through_the_gate_reaches_squid_from_the_sessions_own_address(names, tmp_path, monkeypatch):
    """The gate's real server on a Unix socket, and a TCP server on loopback standing in for squid: it answers
    each connection with the address the connection came from."""
    registration = egress.register(names, "s1", [])

    async def scenario() -> tuple[bytes, bytes]:
        async def squid(reader, writer):
            writer.write(writer.get_extra_info("peername")[0].encode() + b" " + await reader.readline())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(squid, "127.0.0.1", 0)
        monkeypatch.setattr(GATE, "SQUID", ("127.0.0.1", server.sockets[0].getsockname()[1]))
        monkeypatch.setattr(GATE, "CLIENTS", names.clients)
        monkeypatch.setattr(GATE, "SOCKET", tmp_path / "gate.sock")
        gate = GATE.Gate()
        await gate.running()
        answers = []
        for token in (registration.token, f"{registration.address}/forged"):
            reader, writer = await asyncio.open_unix_connection(str(tmp_path / "gate.sock"))
            writer.write(token.encode() + b"\nGET / HTTP/1.1\n")
            answers.append(await asyncio.wait_for(reader.read(), 5))
            writer.close()
        gate.done()
        server.close()
        return tuple(answers)

    through, forged = asyncio.run(scenario())
    assert through == f"{registration.address} GET / HTTP/1.1\n".encode()
    assert forged == b""  # closed without a word: nothing reached squid
    assert not (tmp_path / "gate.sock").exists()


def test_the_gates_mount_point_is_the_one_the_launch_spec_mounts(tmp_path):
    argv = launch_options(network_plan(tmp_path, Docker()))
    assert f"{tmp_path / 'gate'}:{egress.GATE_MOUNT}:ro" in argv
    assert egress.GATE_CLIENT[-1] == f"{egress.GATE_MOUNT}/gate_client.pl"
    for name in egress.GATE_FILES:  # what the role puts in the gate's directory
        assert (ROOT / "roles" / "egress_proxy" / "files" / name).is_file()
    assert GATE.SOCKET.parent == Path(egress.GATE_MOUNT)


@pytest.mark.skipif(shutil.which("perl") is None, reason="the helper is a perl script (perl is in every Debian)")
def test_the_proxys_helper_allows_exact_names_and_subdomains_of_wildcards_only(tmp_path):
    clients = tmp_path / "clients"
    clients.mkdir()
    (clients / "10.0.0.3").write_text("session=s1\n# a comment\nAllowed.test\n*.example.com\n")
    questions = ["10.0.0.3 allowed.test", "10.0.0.3 ALLOWED.TEST.", "10.0.0.3 api.example.com",
                 "10.0.0.3 example.com", "10.0.0.3 badexample.com", "10.0.0.3 other.test",
                 "10.0.0.4 allowed.test", "../clients/10.0.0.3 allowed.test", ""]
    answers = subprocess.run(["perl", str(HELPER)], input="\n".join(questions) + "\n", capture_output=True,
                             text=True, env={"AISHELL_EGRESS_CLIENTS": str(clients)}, check=True).stdout.splitlines()
    assert answers == ["OK session=s1", "OK session=s1", "OK session=s1", "ERR session=s1", "ERR session=s1",
                       "ERR session=s1", "ERR session=-", "ERR session=-", "ERR session=-"]


def network_plan(tmp_path, engine, mode="allowlist"):
    project = tmp_path / "proj"
    project.mkdir(exist_ok=True)
    network = {"mode": mode, "gate": str(tmp_path / "gate"), "allow": ["a.test"]} if mode == "allowlist" else \
        {"mode": mode}
    return make_plan(engine=engine, image="img", project=project, harness="shell", command=["true"],
                     settings_mounts=[], settings_env=[], resources={}, interactive=False, network=network,
                     empty_file=tmp_path / "empty", environ={})


@pytest.mark.parametrize("engine", [Docker(), Podman()], ids=["docker", "podman"])
def test_an_allowlist_sandbox_has_no_network_resolver_or_ipv6_and_starts_behind_the_gates_forwarder(tmp_path, engine):
    plan = network_plan(tmp_path, engine)
    argv = launch_options(plan)
    assert argv[argv.index("--network") + 1] == "none"
    assert f"{tmp_path / 'empty'}:/etc/resolv.conf:ro" in argv
    assert "net.ipv6.conf.all.disable_ipv6=1" in argv and not any("neigh" in arg for arg in argv)
    assert set(egress.ENV_NAMES) <= set(plan.env_names)  # values come from the client's environment
    assert session_command(plan) == [*egress.GATE_CLIENT, "true"]
    session = session_argv("docker", argv, [], "img", session_command(plan), name="n", tty=False)
    assert session[2:4] == ["--name", "n"] and "--ip" not in session


def test_the_other_modes_have_no_gate(tmp_path):
    none = network_plan(tmp_path, Docker(), "none")
    options = launch_options(none)
    assert options[options.index("--network") + 1] == "none" and "/etc/resolv.conf" not in " ".join(options)
    assert session_command(none) == ["true"]
    assert "--network" not in launch_options(network_plan(tmp_path, Docker(), "open"))
    assert not set(egress.ENV_NAMES) & set(network_plan(tmp_path, Docker(), "open").env_names)


def test_the_policy_marks_a_sessions_brokered_hosts_and_only_when_they_are_allowlisted(names):
    address = egress.register(names, "s1", ["api.anthropic.com", "*.example.com"],
                              brokered=["api.anthropic.com", "evil.example.org"]).address
    asked = f"{address} api.anthropic.com\n{address} www.example.com\n{address} evil.example.org\n"
    answers = subprocess.run(["perl", str(HELPER)], input=asked, capture_output=True, text=True, check=True,
                             env={"AISHELL_EGRESS_CLIENTS": str(names.clients)}).stdout.splitlines()
    assert answers == ["OK session=s1 broker=yes", "OK session=s1", "ERR session=s1"]


def test_a_new_gate_forwarder_makes_the_proxy_anew_so_the_role_puts_it_in_place(names, tmp_path, monkeypatch):
    files = tmp_path / "install" / "roles" / "egress_proxy" / "files"
    files.mkdir(parents=True)
    for name in egress.GATE_FILES:
        (files / name).write_text("# one\n")
    monkeypatch.setattr(egress, "install_root", lambda: tmp_path / "install")
    before = egress.config_hash("inputs", names, {})
    assert egress.config_hash("inputs", names, {}) == before
    for name in egress.GATE_FILES:
        (files / name).write_text("# two\n")
        assert egress.config_hash("inputs", names, {}) != before
        before = egress.config_hash("inputs", names, {})


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("perl") is None,
                    reason="namespaces of its own (unshare) need root; CI runs as root")
def test_the_forwarder_opens_the_port_before_the_command_and_relays_with_the_token(tmp_path):
    """gate_client.pl and gate_relay.py as a sandbox runs them, in network and PID namespaces of their own
    (loopback only, as `--network none` gives), beside a stand-in for the gate on a Unix socket: the command's first
    connection, made at once, arrives with the token first; the command keeps its exit status and never sees
    the token."""
    files = ROOT / "roles" / "egress_proxy" / "files"
    for name in egress.GATE_FILES:
        shutil.copy(files / name, tmp_path / name)
    received: list[bytes] = []

    def stand_in(server):
        connection, _ = server.accept()
        with connection:
            data = b""
            while b"GET" not in data:
                data += connection.recv(100)
            received.append(data)
            connection.sendall(b"HTTP/1.0 200 OK\r\n\r\n")

    import socket as sockets

    with sockets.socket(sockets.AF_UNIX) as server:
        server.bind(str(tmp_path / "gate.sock"))
        server.listen()
        threading.Thread(target=stand_in, args=(server,), daemon=True).start()
        command = ("import os, socket; s = socket.create_connection(('127.0.0.1', 3128), timeout=10); "
                   "s.sendall(b'GET / HTTP/1.0\\r\\n\\r\\n'); print(s.recv(100).split()[1].decode(), "
                   "os.environ.get('AISHELL_GATE_TOKEN')); raise SystemExit(7)")
        # A PID namespace too: as in a sandbox, the relay ends with the command (the namespace's first process).
        run = subprocess.run(["unshare", "--net", "--pid", "--fork", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
                              *egress.GATE_CLIENT[:1], str(tmp_path / "gate_client.pl"), sys.executable, "-c",
                              command], env={**os.environ, egress.TOKEN_VARIABLE: "127.64.0.9/secret"},
                             capture_output=True, text=True, timeout=60)
    assert run.returncode == 7, run.stderr
    assert run.stdout.split() == ["200", "None"]
    assert received == [b"127.64.0.9/secret\nGET / HTTP/1.0\r\n\r\n"]
