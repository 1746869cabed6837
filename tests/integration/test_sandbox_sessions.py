"""Interactive sandboxes driven like a person would: tmux panes, send-keys, capture-pane."""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.test_sandbox_launch import CONFIG, our_containers

AISHELL_RUN = str(Path(sys.executable).parent / "aishell-run")
SOCKET = "aishell-tests"


def tmux(*args, check=True):
    run = subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True)
    if check and run.returncode:
        pytest.fail(f"tmux {' '.join(args[:3])} ... exited {run.returncode}: {run.stderr.strip()}")
    return run


def end_tmux():
    """Ends the test terminals' tmux server, and waits until it is gone: a new session started while it is
    still going away is lost with it."""
    tmux("kill-server", check=False)
    wait_for(lambda: tmux("list-sessions", check=False).returncode != 0, timeout=10, what="tmux's server to end")


def screen(pane):
    return tmux("capture-pane", "-p", "-t", pane).stdout


def wait_for(condition, timeout=120, what="condition", seen=None):
    """Waits until `condition()` holds; failing, says what it waited for and what `seen()` shows then."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}" + (f"; it shows:\n{seen()}" if seen else ""))


def holds_within(condition, timeout):
    """Whether `condition()` comes to hold within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.3)
    return True


@pytest.fixture
def project(tmp_path):
    if shutil.which("tmux") is None:
        pytest.fail("tmux is missing: tests/provision.yml installs it")
    root = tmp_path / "interactive"
    (root / ".aishell").mkdir(parents=True)
    (root / ".aishell" / "config.yaml").write_text(CONFIG)
    yield root
    end_tmux()
    remove_containers(root)


def remove_containers(project):
    """Removes what a test left of the project's sandboxes. A `--rm` sandbox may be going away on its own
    (tmux ended its terminal): a container that is gone by the time of its `rm` is what this wanted."""
    for name in our_containers(project):
        done = subprocess.run(["docker", "rm", "-f", name], capture_output=True, text=True)
        # (or being removed by the engine itself just then)
        if done.returncode and not any(gone in done.stderr for gone in ("No such container", "already in progress")):
            pytest.fail(f"docker rm -f {name} exited {done.returncode}: {done.stderr}")


def start(pane, project, command, env=""):
    if os.environ.get("XDG_STATE_HOME"):
        env += f" XDG_STATE_HOME={os.environ['XDG_STATE_HOME']}"
    tmux("new-session", "-d", "-s", pane, "-x", "150", "-y", "40", "-c", str(project),
         f"env {env} {AISHELL_RUN} {command}; echo aishell-run-exited-$?; sleep 600")


def test_detach_and_reattach_from_another_terminal(project):
    start("first", project, "shell")
    wait_for(lambda: our_containers(project), what="the sandbox to start")
    wait_for(lambda: "$" in screen("first") or "#" in screen("first"), what="a prompt")

    start("second", project, "attach")
    # Keys typed before the attach has its terminal are lost (taking a terminal raw flushes its input):
    # type once the second terminal shows the sandbox's prompt line too.
    prompt = [line for line in screen("first").splitlines() if "$" in line or "#" in line][-1].strip()
    wait_for(lambda: prompt in screen("second"), what="the second terminal to attach")
    # The prompt can show before the attach has taken its terminal (seen once in a fresh run: the keys were
    # lost). A harmless echo, typed again every 10 s until the first terminal shows it.
    for _ in range(11):
        tmux("send-keys", "-t", "second", "echo seen-from-both-$((6*7))", "Enter")
        deadline = time.monotonic() + 10
        while "seen-from-both-42" not in screen("first") and time.monotonic() < deadline:
            time.sleep(0.3)
        if "seen-from-both-42" in screen("first"):
            break
    wait_for(lambda: "seen-from-both-42" in screen("first"), timeout=1, what="the first terminal to show the command")

    tmux("send-keys", "-t", "second", "C-b", "d")
    wait_for(lambda: "[detached" in screen("second"), what="the second terminal to detach")
    assert our_containers(project), "detaching must leave the sandbox running"

    tmux("send-keys", "-t", "first", "exit", "Enter")
    wait_for(lambda: not our_containers(project), what="the sandbox to end with its shell")


def test_leaving_returns_the_shells_status_and_keeps_its_last_screen(project):
    start("leaving", project, "shell")
    wait_for(lambda: our_containers(project), what="the sandbox to start")
    wait_for(lambda: "$" in screen("leaving") or "#" in screen("leaving"), what="a prompt")
    tmux("send-keys", "-t", "leaving", "echo last-words-$((6*7)); exit 7", "Enter")
    wait_for(lambda: "aishell-run-exited-" in screen("leaving"), what="aishell-run to exit")
    assert "aishell-run-exited-7" in screen("leaving")
    assert "last-words-42" in screen("leaving")  # printed inside tmux, shown again after it ended
    assert our_containers(project) == []


def test_ps_lists_and_stop_removes_a_sandbox(project):
    start("first", project, "shell")
    wait_for(lambda: our_containers(project), what="the sandbox to start")
    listed = subprocess.run([AISHELL_RUN, "ps", "--json", "--project", str(project)],
                            capture_output=True, text=True, check=True)
    [row] = json.loads(listed.stdout)
    assert row["project"] == str(project) and row["harness"] == "shell" and row["running"]
    subprocess.run([AISHELL_RUN, "stop", row["name"]], check=True, capture_output=True)
    assert our_containers(project) == []


def test_gc_removes_a_stopped_sandbox_left_behind(project):
    name = "aishell-orphan-test"
    subprocess.run(["docker", "create", "--name", name, "--label", "org.aishell.role=sandbox",
                    "--label", f"org.aishell.project={project}", "localhost/aishell-verify:busybox", "true"],
                   check=True, capture_output=True)
    run = subprocess.run([AISHELL_RUN, "gc", "--json"], capture_output=True, text=True, check=True)
    assert f"docker container {name}" in json.loads(run.stdout)["removed"]
    assert our_containers(project) == []
