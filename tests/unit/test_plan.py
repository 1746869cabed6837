"""The launch plan's command line: what goes in, and what never does."""

import os
import subprocess
from pathlib import Path

import pytest

from aishell_runner.engines.docker import Docker
from aishell_runner.paths import role_plugin
from aishell_runner.plan import PlannedMount, make_plan
from aishell_runner.session import session_argv, session_command
from aishell_runner.settings import EnvVar, Mount, SecuritySettings

SECRET = "sk-ant-never-in-argv"


def plan_for(tmp_path, **overrides):
    project = tmp_path / "proj"
    project.mkdir(exist_ok=True)
    options = dict(
        engine=Docker(), image="img", project=project, harness="claude", command=None,
        settings_mounts=[Mount(source=tmp_path, target=Path("/data"), readonly=True)],
        settings_env=[EnvVar("LITERAL", "value"), EnvVar("FROM_HOST", None)],
        resources={"cpus": 2, "memory": "1g", "pids": None}, interactive=False,
        environ={"ANTHROPIC_API_KEY": SECRET, "OPENAI_API_KEY": "other-agent", "FROM_HOST": "x", "TERM": "xterm"},
    )
    options.update(overrides)
    return make_plan(**options)


def launch_options(plan):
    """The engine options the sandbox_launch role renders for `plan` (its filter plugin)."""
    return role_plugin("sandbox_launch", "launch_spec.py").launch_options(plan.role_input())


def argv_of(plan):
    """The whole command line of a session of `plan`, as `aishell-run plan` prints it."""
    return plan.public()["argv"]


def test_only_the_running_agents_keys_are_passed_and_by_name(tmp_path):
    plan = plan_for(tmp_path)
    argv = argv_of(plan)
    assert "ANTHROPIC_API_KEY" in plan.env_names and "OPENAI_API_KEY" not in plan.env_names
    assert {"FROM_HOST", "LITERAL", "TERM", "HOME"} <= set(plan.env_names)
    assert SECRET not in " ".join(argv) and "value" not in argv
    assert plan.literal_env["LITERAL"] == "value"


def test_project_is_mounted_at_its_path_and_is_the_workdir(tmp_path):
    plan = plan_for(tmp_path)
    argv = argv_of(plan)
    project = str(tmp_path / "proj")
    assert f"{project}:{project}" in argv
    assert argv[argv.index("--workdir") + 1] == project
    assert f"{tmp_path}:/data:ro" in argv


def test_resources_and_hardening_reach_the_engine(tmp_path):
    argv = argv_of(plan_for(tmp_path))
    assert argv[argv.index("--cpus") + 1] == "2" and argv[argv.index("--memory") + 1] == "1g"
    assert argv[argv.index("--cap-drop"):argv.index("--cap-drop") + 2] == ["--cap-drop", "ALL"]
    assert "no-new-privileges" in argv and "--init" in argv and "--rm" in argv


def test_interactive_sessions_run_the_agent_in_tmux_and_keep_its_status_and_last_screen(tmp_path):
    argv = argv_of(plan_for(tmp_path, interactive=True))
    assert argv[-5:-3] == ["sh", "-c"] and argv[-2:] == ["aishell-session", "claude"]
    session = argv[-3]
    assert session.startswith("tmux new-session -s aishell sh -c ")
    # Run here, with a stand-in tmux: the agent's status comes out, and its last screen is printed again.
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "tmux").write_text('#!/bin/sh\n[ "$1" = capture-pane ] && { printf "agent said bye\\n\\n\\n"; exit 0; }\n'
                               'shift 3; exec "$@"\n')
    (fake / "tmux").chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    here = session.replace("/tmp/", f"{tmp_path}/")
    run = subprocess.run(["sh", "-c", here, "aishell-session", "sh", "-c", "exit 7"], capture_output=True, text=True,
                         env=env)
    assert (run.returncode, run.stdout) == (7, "agent said bye\n")


def test_pre_start_runs_first_and_the_command_keeps_its_exit_status(tmp_path):
    argv = argv_of(plan_for(tmp_path, command=["make", "test"], pre_start=("npm ci",)))
    assert argv[-6:] == ["sh", "-c", 'npm ci && exec "$@"', "pre_start", "make", "test"]


def test_each_session_gets_its_own_name_and_a_tty_only_on_a_terminal(tmp_path):
    plan = plan_for(tmp_path)
    one = session_argv("docker", launch_options(plan), [], plan.image, session_command(plan), name="a", tty=False)
    assert one[:4] == ["docker", "run", "--name", "a"] and "--tty" not in one
    assert one[-2:] == ["img", "claude"]
    assert "--tty" in session_argv("docker", launch_options(plan), [], plan.image, ["true"], name="b", tty=True)


def test_the_command_is_the_sessions_own_and_leaves_the_plan_warm(tmp_path):
    make_test = plan_for(tmp_path, command=["make", "test"])
    pytest_plan = plan_for(tmp_path, command=["pytest"])
    assert make_test.digest() == pytest_plan.digest() and make_test.role_input() == pytest_plan.role_input()
    assert argv_of(make_test)[-3:] == ["img", "make", "test"] and argv_of(pytest_plan)[-2:] == ["img", "pytest"]
    # What shapes the sandbox still does.
    assert make_test.digest() != plan_for(tmp_path, command=["make", "test"], interactive=True).digest()
    assert make_test.digest() != plan_for(tmp_path, command=["make", "test"], pre_start=("npm ci",)).digest()


def test_the_hash_changes_with_a_literal_value_but_never_contains_it(tmp_path):
    first = plan_for(tmp_path)
    second = plan_for(tmp_path, settings_env=[EnvVar("LITERAL", "other")])
    assert first.digest() != second.digest()
    assert "value" not in str(first.public())


def test_an_allowlist_edit_keeps_the_hash_and_the_argv_but_another_network_does_not(tmp_path):
    """The allowlist reaches the proxy per session: editing it must not force a cold launch."""
    def allowlist(gate, hosts):
        return plan_for(tmp_path, network={"mode": "allowlist", "gate": str(tmp_path / gate), "allow": hosts},
                        empty_file=tmp_path / "empty")

    first = allowlist("gate", ["api.anthropic.com"])
    edited = allowlist("gate", ["api.anthropic.com", "example.com"])
    assert first.digest() == edited.digest() and first.role_input() == edited.role_input()
    assert launch_options(first) == launch_options(edited)
    assert first.digest() != allowlist("another-users-gate", ["api.anthropic.com"]).digest()
    assert first.digest() != plan_for(tmp_path).digest()


def test_hidden_files_and_directories_are_mounted_over_the_project_empty_and_read_only(tmp_path):
    project = tmp_path / "proj"
    (project / "secrets").mkdir(parents=True)
    (project / ".env").write_text("TOKEN=x\n")
    empty = tmp_path / "empty"
    plan = plan_for(tmp_path, hidden=(project / ".env", project / "secrets"), empty_file=empty)
    argv = argv_of(plan)
    assert f"{empty}:{project / '.env'}:ro" in argv
    assert argv[argv.index("--tmpfs", argv.index("--tmpfs") + 1) + 1] == f"{project / 'secrets'}:ro"
    # After the project's own mount, so they cover it.
    assert argv.index(f"{empty}:{project / '.env'}:ro") > argv.index(f"{project}:{project}")
    assert plan.public()["hidden"] == [str(project / ".env"), str(project / "secrets")]


def test_limits_default_to_a_share_of_the_host(tmp_path):
    plan = plan_for(tmp_path, resources={"cpus": None, "memory": None, "pids": None})
    argv = argv_of(plan)
    cpus = float(argv[argv.index("--cpus") + 1])
    memory_mb = int(argv[argv.index("--memory") + 1].removesuffix("m"))
    host_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    assert 1 <= cpus <= max(1, os.cpu_count() - 1)
    assert 0 < memory_mb <= max(host_mb // 2, 512)
    assert argv[argv.index("--pids-limit") + 1] == "4096"


def test_safe_defaults_and_each_relaxation(tmp_path):
    argv = argv_of(plan_for(tmp_path))
    assert argv[argv.index("--cap-drop") + 1] == "ALL" and "--cap-add" not in " ".join(argv)
    assert "no-new-privileges" in argv and "seccomp=unconfined" not in argv and "--read-only" not in argv
    relaxed = SecuritySettings(read_only_root=True, add_capabilities=("NET_BIND_SERVICE",), no_new_privileges=False,
                               seccomp="unconfined")
    argv = argv_of(plan_for(tmp_path, security=relaxed))
    assert "--cap-add=NET_BIND_SERVICE" in argv and "no-new-privileges" not in argv
    assert "seccomp=unconfined" in argv
    assert "--read-only" in argv and "/tmp:rw,exec,mode=1777" in argv


def test_the_agent_gets_its_sandbox_profile_never_the_hosts_configuration(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    plan = plan_for(tmp_path)
    home = Path(plan.home)
    profile = [m for m in plan.mounts if m.target.startswith(f"{home}/")]
    assert profile == [PlannedMount(str(tmp_path / "data/aishell/profiles/claude/.claude"), f"{home}/.claude", False)]
    assert plan.literal_env["CLAUDE_CONFIG_DIR"] == f"{home}/.claude"


def test_autonomy_is_a_read_only_policy_and_a_variable_and_the_settings_can_turn_it_off(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    policy = "/etc/claude-code/managed-settings.json"
    autonomous = plan_for(tmp_path)
    assert next(m for m in autonomous.mounts if m.target == policy).readonly
    assert autonomous.literal_env["IS_SANDBOX"] == "1" and "IS_SANDBOX" not in autonomous.secret_names
    prompting = plan_for(tmp_path, autonomous=False)
    assert policy not in {m.target for m in prompting.mounts} and "IS_SANDBOX" not in prompting.env_names
    assert autonomous.digest() != prompting.digest()


def test_a_plan_the_role_cannot_render_is_named_by_its_missing_parts(tmp_path):
    plugin = role_plugin("sandbox_launch", "launch_spec.py")
    partial = plan_for(tmp_path).role_input()
    del partial["mounts"], partial["network"]
    with pytest.raises(plugin.PlanError, match=r"the launch plan has no mounts, network: .*one release"):
        plugin.launch_options(partial)
