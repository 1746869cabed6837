"""The real agent CLIs at work in sandboxes, against a local stand-in for each provider's API (tests/standins/).

Claude Code, Codex CLI, Gemini CLI and OpenCode (the CLIs the images carry), on Docker and rootless Podman:
each does a task on its own, with no flag asking it to, and does not when the settings turn its autonomy off;
interactively each goes straight to its prompt. Each talks to its provider's real host through the egress
proxy with a placeholder key; the credential broker puts the real key in and sends the request to the agent's
upstream, the stand-in, on this machine's own address (agents.<name>.upstream in the user's settings).
"""

from __future__ import annotations

import json
import re
import shlex
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import Sandbox, new_sandbox
from tests.integration.test_sandbox_sessions import end_tmux, holds_within, screen, start, tmux, wait_for
from tests.standins import anthropic_api, gemini_api, openai_responses


@dataclass
class StandIn:
    url: str
    log: Path

    def requests(self) -> list[dict]:
        """The requests logged so far. A line still being written (a long one takes several writes) has no end
        of line yet, and is left for the next look."""
        text = self.log.read_text() if self.log.exists() else ""
        return [json.loads(line) for line in text[:text.rfind("\n") + 1].splitlines()]


def _header(name: str) -> Callable[[dict], str]:
    return lambda headers: next((v for k, v in headers.items() if k.lower() == name), "")


@dataclass(frozen=True)
class Agent:
    """How a test drives one agent: its key, the stand-in of its provider, its one-shot command."""

    name: str
    key_variable: str
    key_prefix: str
    standin: str  # a module of tests/standins/
    once: str  # the command that runs it once on {task}, no approval flag in it
    key_seen: Callable[[dict], str]  # the key as its requests' headers carry it
    route: str  # a pattern of its model requests' paths (without the query)
    # Where its own defaults ask before it writes a file (so autonomy is what lets it): the project, or outside
    # it (the sandbox's home).
    asks_in: str = "{project}"


AGENTS = {agent.name: agent for agent in (
    Agent("claude", "ANTHROPIC_API_KEY", "sk-ant-standin-", "anthropic_api", "claude -p {task}",
          _header("x-api-key"), r"^/v1/messages$"),
    # In a trusted project Codex's own defaults are its workspace-write sandbox: the project, /tmp and $TMPDIR.
    Agent("codex", "OPENAI_API_KEY", "sk-standin-", "openai_responses", "codex exec {task}",
          lambda headers: _header("authorization")(headers).removeprefix("Bearer "), r"^/v1/responses$",
          asks_in="{home}"),
    Agent("gemini", "GEMINI_API_KEY", "standin-gemini-", "gemini_api", "gemini -p {task}",
          _header("x-goog-api-key"), r"^/v1beta/models/[^/]+:streamGenerateContent$"),
    # OpenCode's own defaults let it edit the project's files: what autonomy adds is a write outside it.
    Agent("opencode", "ANTHROPIC_API_KEY", "sk-ant-standin-", "anthropic_api", "opencode run {task}",
          _header("x-api-key"), r"^/v1/messages$", asks_in="{home}"),
)}
STANDINS = {module.__name__.rsplit(".", 1)[1]: module for module in (anthropic_api, openai_responses, gemini_api)}


def user_settings(agent: str, url: str, **more: object) -> str:
    """The user's settings that send `agent`'s API requests to the stand-in at `url`: its upstream, which the
    credential broker uses (the agent talks to its real host through the egress proxy, with a placeholder
    key; the broker puts the real key in and forwards to `url`). `more`: other keys of agents.<agent>."""
    return json.dumps({"agents": {agent: {"upstream": url, **more}}}) + "\n"  # JSON is YAML too


def type_line(pane: str, text: str, taken) -> None:
    """Types `text` as a person would, then Enter until `taken()` shows the agent took the line.

    A terminal interface reads what arrives in one burst as a paste, and in a paste Enter is a new line, not a
    submit (Claude Code and Codex both tell paste from typing so). On a loaded machine the interface may read
    the text and an Enter sent a second later in one burst. So Enter goes once the text is on the screen, and
    again while the line was not taken: an Enter on an empty prompt does nothing."""
    tmux("send-keys", "-t", pane, "-l", text)
    wait_for(lambda: text[-20:] in screen(pane), timeout=60, what=f"{text!r} on the screen",
             seen=lambda: screen(pane))
    for _ in range(4):
        time.sleep(1)
        tmux("send-keys", "-t", pane, "Enter")
        if holds_within(taken, timeout=20):
            return
    pytest.fail(f"{pane} did not take {text!r} after four Enters; it shows:\n{screen(pane)}")


def host_address() -> str:
    """This machine's address on its default route (a UDP socket's choice; nothing is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.1", 9))
        return probe.getsockname()[0]


@pytest.fixture(scope="module")
def standins(tmp_path_factory):
    """The stand-ins, each started when a test first needs it: module -> StandIn."""
    started: dict[str, StandIn] = {}
    servers = []

    def get(module: str) -> StandIn:
        if module not in started:
            log = tmp_path_factory.mktemp(module) / "requests.jsonl"
            server, _ = STANDINS[module].serve("0.0.0.0", 0, str(log))
            servers.append(server)
            started[module] = StandIn(f"http://{host_address()}:{server.server_address[1]}", log)
        return started[module]

    yield get
    for server in servers:
        server.shutdown()
        server.server_close()


@dataclass
class Run:
    """One agent's sandbox on one engine, pointed at its stand-in."""

    agent: Agent
    box: Sandbox
    standin: StandIn

    @property
    def key(self) -> str:
        return self.box.env[self.agent.key_variable]

    def once(self, task: str, then: str = "true"):
        """The agent run once on `task` in a sandbox, stdin closed as in a script; `then` runs in the same
        sandbox after it (the agent's status is the run's)."""
        command = self.agent.once.format(task=shlex.quote(task))
        return self.box.run(f"{command} </dev/null; status=$?; {then}; exit $status")

    def calls(self) -> list[dict]:
        """The requests the stand-in got with this sandbox's key."""
        return [r for r in self.standin.requests() if self.agent.key_seen(r["headers"]) == self.key]

    def model_calls(self) -> list[dict]:
        return [c for c in self.calls() if re.search(self.agent.route, c["path"].split("?")[0])]

    def tool_results(self) -> list[dict]:
        """The model requests that brought the stand-in its tool's result."""
        return [c for c in self.model_calls() if STANDINS[self.agent.standin].carries_tool_result(c["body"] or {})]


@pytest.fixture(params=["docker", "rootless-podman"])
def engine(request):
    return request.param


@pytest.fixture
def run(request, engine, tmp_path, standins):
    agent = AGENTS[request.param]
    standin = standins(agent.standin)
    box = new_sandbox(engine, tmp_path)
    box.env = {agent.key_variable: f"{agent.key_prefix}{uuid.uuid4().hex}"}
    box.configure(f"harness: {agent.name}\n")  # the default network: the allowlist, behind the broker
    box.configure_user(user_settings(agent.name, standin.url))
    box.shell(f"git init -q {box.root}")  # a project is a git repository (codex exec wants one)
    yield Run(agent, box, standin)
    box.remove()


# Each agent on each engine, and under gVisor (security.runtime: runsc) on Docker: rootless Podman cannot run
# runsc (docs/security.md), and the escape battery and network probes run under runsc too.
ONE_SHOT = [pytest.param(name, engine, id=f"{engine}-{name}")
            for engine in ("docker", "rootless-podman", "docker+runsc") for name in AGENTS]


@pytest.mark.parametrize(("run", "engine"), ONE_SHOT, indirect=["run"])
def test_the_agent_does_a_task_on_its_own_and_the_file_is_the_users(run):
    target = run.box.root / "hello.txt"
    # No approval flag: the sandbox's policy makes it autonomous.
    done = run.once(f"aishell-standin: write {target} hi from {run.agent.name}",
                    then=f"echo; echo aishell-kernel: $(uname -r); echo aishell-test-key: ${run.agent.key_variable}")
    assert done.returncode == 0, done.stdout + done.stderr
    # Under gVisor the agent's kernel is gVisor's own (it says 4.4.0), not the host's.
    assert ("\naishell-kernel: 4.4.0\n" in done.stdout) == (run.box.runtime == "runsc"), done.stdout
    assert "standin: done" in done.stdout, done.stdout  # the turn after the tool's result
    # The stand-in got the real key (calls() below are the ones carrying it); the sandbox held a placeholder.
    held = done.stdout.rpartition("aishell-test-key: ")[2].strip()
    assert held and held != run.key and len(held) == len(run.key), held
    # An agent may exit 0 also when its tool was refused: the file is the proof.
    assert run.box.shell(f"cat {target}").stdout == f"hi from {run.agent.name}\n"
    assert run.box.shell(f"stat -c %u {target}").stdout == run.box.shell("id -u").stdout
    # The task, then (after side requests of its own, a title say) the tool's result.
    assert len(run.tool_results()) == 1, run.calls()


# Autonomy off for each agent; on, too, where its defaults ask outside the project (elsewhere the test above
# shows it).
GUARDED = [pytest.param(name, autonomous, id=f"{name}-{'autonomous' if autonomous else 'autonomy-off'}")
           for name, agent in AGENTS.items() for autonomous in (True, False)
           if not autonomous or agent.asks_in != "{project}"]


@pytest.mark.parametrize(("run", "autonomous"), GUARDED, indirect=["run"])
def test_the_agent_writes_where_it_would_ask_only_when_autonomous(run, autonomous):
    if not autonomous:
        run.box.configure_user(user_settings(run.agent.name, run.standin.url, autonomous=False))
    home = run.box.shell('printf %s "$HOME"').stdout  # the sandbox's home is its user's
    target = Path(run.agent.asks_in.format(project=run.box.root, home=home)) / f"guarded-{uuid.uuid4().hex[:8]}.txt"
    task = f"aishell-standin: write {target} guarded"
    # What is there afterwards, seen in the same sandbox.
    done = run.once(task, then=f"echo; echo aishell-test: $(cat {target} 2>/dev/null || echo nothing)")
    assert done.returncode == 0, done.stdout + done.stderr
    # It did get the task: Claude Code, Codex and OpenCode call the tool (autonomy off, its refusal comes back as
    # the tool's result); Gemini CLI in -p mode is offered the tool only when autonomous. (The home is the
    # sandbox's own: what is written there is gone with it.)
    assert any(task in json.dumps(call["body"]) for call in run.model_calls()), run.calls()
    wanted = "guarded" if autonomous else "nothing"
    assert f"\naishell-test: {wanted}\n" in done.stdout, done.stdout + done.stderr


# How each agent's terminal interface shows it is at its prompt (in its no-approval mode, where it says so),
# and how one leaves it.
AT_PROMPT = {"claude": ("bypass permissions on", "/exit"), "codex": ("permissions: YOLO mode", "/exit"),
             "gemini": ("Type your message", "/quit"), "opencode": ("Ask anything", "/exit")}


@pytest.mark.parametrize("name", list(AT_PROMPT))
def test_interactive_agent_starts_at_its_prompt_does_a_typed_task_and_leaving_returns_its_status(
        name, tmp_path, standins):
    agent = AGENTS[name]
    box = new_sandbox("docker", tmp_path)
    key = f"{agent.key_prefix}{uuid.uuid4().hex}"
    box.configure()
    box.configure_user(user_settings(name, standins(agent.standin).url))
    box.shell(f"git init -q {box.root}")
    try:
        start(name, box.root, name, env=f"{agent.key_variable}={key} XDG_CONFIG_HOME={box.config_home} "
              f"PYTHONPATH={Path(__file__).parents[2]}")  # this checkout's code
        # No onboarding, theme, sign-in, key, trust or bypass-warning screen on the way (each would stand
        # where the prompt is).
        prompt, leave = AT_PROMPT[name]
        wait_for(lambda: prompt in screen(name), timeout=180, what=f"{agent.name}'s prompt")
        target = box.root / "typed.txt"
        standin = standins(agent.standin)

        def task_sent():
            return any(f"write {target}" in json.dumps(request["body"]) for request in standin.requests()
                       if agent.key_seen(request["headers"]) == key)

        type_line(name, f"aishell-standin: write {target} typed", taken=task_sent)
        # The file's content, not its being there: the agent creates it, then writes it.
        wait_for(lambda: target.exists() and target.read_text() == "typed\n", what="the typed task to be done",
                 seen=lambda: f"{screen(name)}\n{target}: {target.read_text() if target.exists() else 'absent'!r}")
        type_line(name, leave, taken=lambda: "aishell-run-exited-" in screen(name))
        assert "aishell-run-exited-0" in screen(name)
    finally:
        end_tmux()
        box.remove()
