"""Allowlist networking without an engine: allowlists, address registration, the proxy's helper, argv."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from aishell_runner import egress
from aishell_runner.engines.docker import Docker
from aishell_runner.engines.podman import Podman
from aishell_runner.plan import make_plan
from aishell_runner.session import session_argv
from tests.unit.test_plan import launch_options

HELPER = Path(__file__).parents[2] / "roles" / "sandbox_image" / "files" / "egress" / "policy"
PROXY = egress.Proxy(ipaddress.IPv4Address("10.213.7.2"), ipaddress.IPv4Network("10.213.7.0/29"))


@pytest.fixture
def names(tmp_path):
    return egress.Names(proxy="p", outbound="o", sandboxes="s", subnet="10.213.7.0/29", config_dir=tmp_path,
                        broker="b", broker_dir=tmp_path / "broker")


def test_the_allowlist_is_the_agents_hosts_then_registries_then_settings_without_repeats():
    hosts = egress.allowlist("claude", ("api.anthropic.com", "*.example.com"), ("npm",))
    assert hosts[0] == "api.anthropic.com" and hosts.count("api.anthropic.com") == 1
    assert hosts[-2:] == ["registry.npmjs.org", "*.example.com"]
    assert egress.allowlist("shell", (), ()) == []
    assert "api.openai.com" in egress.allowlist("codex", (), ()) and "api.anthropic.com" not in \
        egress.allowlist("codex", (), ())


def test_each_user_gets_its_own_proxy_and_subnet_unless_one_is_set():
    assert egress.names_for(1000, None).subnet == "10.213.232.0/24"
    assert egress.names_for(0, None).proxy != egress.names_for(1000, None).proxy
    assert egress.names_for(1000, "10.9.0.0/24").subnet == "10.9.0.0/24"


def test_a_registration_publishes_the_allowlist_and_is_removed(names):
    address = egress.register(PROXY, names, "aishell-app-1", ["a.test", "*.b.test"])
    assert ipaddress.IPv4Address(address) in PROXY.network
    assert address not in ("10.213.7.1", "10.213.7.2")  # the gateway and the proxy
    path = names.clients / address
    assert path.read_text() == "session=aishell-app-1\na.test\n*.b.test\n"
    assert path.stat().st_mode & 0o777 == 0o644
    assert egress.sessions_of(names) == {address: "aishell-app-1"}
    egress.unregister(names, address)
    assert not path.exists() and list(names.clients.iterdir()) == []  # no draft left behind


def test_concurrent_launches_never_share_an_address_and_a_full_network_is_a_clear_error(names):
    # A /29 holds 6 hosts: the gateway and the proxy leave 4 for sandboxes.
    taken: list[str] = []
    threads = [threading.Thread(target=lambda n=n: taken.append(egress.register(PROXY, names, f"s{n}", [])))
               for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(taken)) == 4
    with pytest.raises(egress.AishellError, match="no free address") as raised:
        egress.register(PROXY, names, "s5", [])
    assert "aishell-run gc" in raised.value.hint


def test_gc_forgets_only_the_sessions_that_are_gone(names):
    live = egress.register(PROXY, names, "live", [])
    egress.register(PROXY, names, "gone", [])
    assert egress.forget_gone(names, {"live"}) == ["gone"]
    assert egress.sessions_of(names) == {live: "live"}


def test_the_proxy_variables_point_every_tool_at_the_proxy():
    env = PROXY.env()
    assert env["HTTPS_PROXY"] == env["http_proxy"] == "http://10.213.7.2:3128"
    assert env["NO_PROXY"] == "localhost,127.0.0.1,::1" and env["NODE_USE_ENV_PROXY"] == "1"
    assert sorted(env) == sorted(egress.ENV_NAMES)


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
    network = {"mode": mode, "name": "aishell-sandboxes-0", "allow": ["a.test"]} if mode == "allowlist" else \
        {"mode": mode}
    return make_plan(engine=engine, image="img", project=project, harness="shell", command=["true"],
                     settings_mounts=[], settings_env=[], resources={}, interactive=False, network=network,
                     empty_file=tmp_path / "empty", environ={})


def test_an_allowlist_sandbox_is_alone_on_the_internal_network_without_resolver_or_ipv6(tmp_path):
    plan = network_plan(tmp_path, Docker())
    argv = launch_options(plan)
    assert argv[argv.index("--network") + 1] == "aishell-sandboxes-0"
    assert f"{tmp_path / 'empty'}:/etc/resolv.conf:ro" in argv
    assert "net.ipv6.conf.all.disable_ipv6=1" in argv and "net.ipv4.neigh.eth0.mcast_solicit=1" in argv
    assert set(egress.ENV_NAMES) <= set(plan.env_names)  # values come from the client's environment
    assert not any("10.213" in arg for arg in argv)  # the proxy's address is not baked into the shared spec
    session = session_argv("docker", argv, [], "img", [], name="n", tty=False, address="10.213.0.9")
    assert session[2:6] == ["--name", "n", "--ip", "10.213.0.9"]


def test_podman_sandboxes_skip_the_arp_sysctls_and_the_other_modes(tmp_path):
    argv = launch_options(network_plan(tmp_path, Podman()))
    assert "net.ipv6.conf.all.disable_ipv6=1" in argv and not any("neigh" in arg for arg in argv)
    none = launch_options(network_plan(tmp_path, Docker(), "none"))
    assert none[none.index("--network") + 1] == "none" and "/etc/resolv.conf" not in " ".join(none)
    assert "--network" not in launch_options(network_plan(tmp_path, Docker(), "open"))
    assert not set(egress.ENV_NAMES) & set(network_plan(tmp_path, Docker(), "open").env_names)


def test_the_policy_marks_a_sessions_brokered_hosts_and_only_when_they_are_allowlisted(names):
    address = egress.register(PROXY, names, "s1", ["api.anthropic.com", "*.example.com"],
                              brokered=["api.anthropic.com", "evil.example.org"])
    asked = f"{address} api.anthropic.com\n{address} www.example.com\n{address} evil.example.org\n"
    answers = subprocess.run(["perl", str(HELPER)], input=asked, capture_output=True, text=True, check=True,
                             env={"AISHELL_EGRESS_CLIENTS": str(names.clients)}).stdout.splitlines()
    assert answers == ["OK session=s1 broker=yes", "OK session=s1", "ERR session=s1"]
