"""The real agent CLIs at work in sandboxes, against a local stand-in for the provider's API (tests/standins/).

Claude Code (the CLI the test images carry), on Docker and rootless Podman: it does a task on its own, with
no flag asking it to, and interactively it goes straight to its prompt. The stand-in listens on this
machine's own address, which both engines' sandboxes reach in the open network mode.
"""

from __future__ import annotations

import json
import shlex
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import new_sandbox
from tests.integration.test_sandbox_sessions import screen, start, tmux, wait_for
from tests.standins.anthropic_api import serve


@dataclass
class StandIn:
    url: str
    log: Path

    def requests(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []


def type_line(pane: str, text: str) -> None:
    """Type `text`, then Enter a moment later: Claude Code takes a burst that ends in Enter for a paste."""
    tmux("send-keys", "-t", pane, "-l", text)
    time.sleep(1)
    tmux("send-keys", "-t", pane, "Enter")


def host_address() -> str:
    """This machine's address on its default route (a UDP socket's choice; nothing is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))
        return probe.getsockname()[0]


@pytest.fixture(scope="module")
def anthropic(tmp_path_factory):
    log = tmp_path_factory.mktemp("anthropic") / "requests.jsonl"
    server, _ = serve("0.0.0.0", 0, str(log))
    yield StandIn(f"http://{host_address()}:{server.server_address[1]}", log)
    server.shutdown()


@pytest.fixture(params=["docker", "rootless-podman"])
def sandbox(request, tmp_path, anthropic):
    box = new_sandbox(request.param, tmp_path)
    box.env = {"ANTHROPIC_API_KEY": f"sk-ant-standin-{uuid.uuid4().hex}"}
    box.configure(f"network: {{mode: open}}\nenv: [ANTHROPIC_BASE_URL={anthropic.url}]\n")
    yield box
    box.remove()


def test_claude_does_a_task_on_its_own_and_the_file_is_the_users(sandbox, anthropic):
    target = sandbox.root / "hello.txt"
    task = f"aishell-standin: write {target} hi from claude"
    # No --dangerously-skip-permissions: the sandbox's policy makes it autonomous. stdin closed, as in a script.
    run = sandbox.run(f"claude -p {shlex.quote(task)} </dev/null")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "standin: done" in run.stdout, run.stdout  # the turn after the tool's result
    # Claude Code exits 0 also when its tool was refused: the file is the proof.
    assert sandbox.shell(f"cat {target}").stdout == "hi from claude\n"
    assert sandbox.shell(f"stat -c %u {target}").stdout == sandbox.shell("id -u").stdout
    calls = [r for r in anthropic.requests() if r["headers"].get("x-api-key") == sandbox.env["ANTHROPIC_API_KEY"]]
    assert [c["path"].split("?")[0] for c in calls] == ["/v1/messages", "/v1/messages"], calls


def test_claude_asks_again_when_the_settings_turn_autonomy_off(sandbox, anthropic):
    sandbox.configure_user("agents: {claude: {autonomous: false}}\n")
    target = sandbox.root / "refused.txt"
    run = sandbox.run(f"claude -p {shlex.quote(f'aishell-standin: write {target} nope')} </dev/null")
    assert run.returncode == 0, run.stdout + run.stderr
    assert sandbox.shell(f"test -e {target}", check=False).returncode == 1, "it wrote without approval"


def test_interactive_claude_starts_at_its_prompt_does_a_typed_task_and_leaving_returns_its_status(
        tmp_path, anthropic):
    box = new_sandbox("docker", tmp_path)
    key = f"sk-ant-standin-{uuid.uuid4().hex}"
    box.configure(f"network: {{mode: open}}\nenv: [ANTHROPIC_BASE_URL={anthropic.url}]\n")
    try:
        start("claude", box.root, "claude", env=f"ANTHROPIC_API_KEY={key} "
              f"XDG_CONFIG_HOME={box.config_home}")
        # No onboarding, theme, sign-in, key, trust or bypass-warning screen on the way.
        wait_for(lambda: "bypass permissions on" in screen("claude"), timeout=180, what="Claude Code's prompt")
        target = box.root / "typed.txt"
        type_line("claude", f"aishell-standin: write {target} typed")
        wait_for(target.exists, what="the typed task to be done")
        assert target.read_text() == "typed\n"
        type_line("claude", "/exit")
        wait_for(lambda: "aishell-run-exited-" in screen("claude"), what="aishell-run to exit")
        assert "aishell-run-exited-0" in screen("claude")
    finally:
        tmux("kill-server", check=False)  # no server is left when every pane's command has ended
        box.remove()
