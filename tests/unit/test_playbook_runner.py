"""run_playbook with the real ansible-runner and ansible-playbook (no mocks) on a throwaway playbook."""

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from aishell_runner.playbook import run_playbook

PLAY = """
- name: Tiny
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Say hello
      ansible.builtin.debug:
        msg: hello
    - name: Publish a report
      ansible.builtin.set_stats:
        data:
          aishell_bootstrap: "{{ {inventory_hostname: {'engines': {'docker': {'version': '20.10.24'}}}} }}"
        aggregate: true
        per_host: false
    - name: Add to the report
      ansible.builtin.set_stats:
        data:
          aishell_bootstrap: "{{ {inventory_hostname: {'engines': {'docker': {'verified': true}}}} }}"
        aggregate: true
        per_host: false
    - name: Fail when asked
      ansible.builtin.fail:
        msg: asked to fail
      when: fail | default(false) | bool
    - name: Sleep when asked
      ansible.builtin.command: sleep {{ sleep }}
      when: sleep is defined
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    root = tmp_path / "project"
    (root / "playbooks").mkdir(parents=True)
    (root / "roles").mkdir()
    (root / "playbooks" / "tiny.yml").write_text(PLAY)
    (root / "ansible.cfg").write_text("[defaults]\n")
    (root / "hosts.yml").write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        "      ansible_python_interpreter: /usr/bin/python3\n"
    )
    return root


def run_tiny(project: Path, extravars: dict | None = None, **kwargs):
    return run_playbook("tiny.yml", extravars or {}, root=project, inventory=project / "hosts.yml", **kwargs)


def test_task_names_and_merged_custom_stats_come_from_events(project):
    tasks: list[str] = []
    result = run_tiny(project, on_task=tasks.append)
    assert result.ok, result.failures
    assert tasks[:3] == ["Say hello", "Publish a report", "Add to the report"]
    # Both set_stats calls, merged (aggregate: true) into one nested dict.
    assert result.custom_stats == {
        "aishell_bootstrap": {"localhost": {"engines": {"docker": {"version": "20.10.24", "verified": True}}}}
    }
    assert result.changed == {"localhost": 0}
    assert result.ok_tasks["localhost"] >= 3
    assert result.log.is_file() and "Say hello" in result.log.read_text()
    assert result.artifact_dir == result.log.parent


def test_check_mode_reaches_ansible(project):
    result = run_tiny(project, check=True)
    assert result.ok
    assert "--check" in (result.artifact_dir / "command").read_text()


def test_failure_carries_host_task_and_message(project):
    result = run_tiny(project, {"fail": True})
    assert not result.ok and result.status == "failed"
    [failure] = result.failures
    assert (failure.host, failure.task, failure.message) == ("localhost", "Fail when asked", "asked to fail")


def test_each_run_gets_a_fresh_private_directory_and_old_ones_are_pruned(project, tmp_path):
    runs = tmp_path / "state" / "aishell" / "runs"
    runs.mkdir(parents=True)
    for index in range(12):
        (runs / f"20000101-000000-{index:06d}-old").mkdir()
    run_tiny(project)
    remaining = sorted(path.name for path in runs.iterdir())
    assert len(remaining) == 11 and remaining[-1].endswith("-tiny")
    assert (runs / remaining[-1]).stat().st_mode & 0o077 == 0  # it records the environment: ours alone


def test_ctrl_c_stops_ansible_and_raises_keyboard_interrupt(project):
    marker = "31.4159"  # a sleep this test can recognise among the machine's processes

    def press_ctrl_c_once_sleeping(task: str) -> None:
        if task == "Sleep when asked":
            threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()

    handler_before = signal.getsignal(signal.SIGINT)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        run_tiny(project, {"sleep": marker}, on_task=press_ctrl_c_once_sleeping)
    assert time.monotonic() - started < 25
    assert signal.getsignal(signal.SIGINT) is handler_before  # ours was there for the run only
    still_running = subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True, text=True).stdout
    assert still_running == ""


def test_secrets_in_our_environment_never_reach_ansible_runner_artifacts(project, tmp_path, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-planted-secret-value")
    assert run_tiny(project).ok
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert "sk-ant-planted-secret-value" not in path.read_text(errors="replace"), path
    assert os.environ["ANTHROPIC_API_KEY"] == "sk-ant-planted-secret-value"  # restored afterwards


def test_a_run_in_progress_keeps_its_directory_while_later_runs_prune_older_ones(tmp_path, monkeypatch):
    """A fleet's run lasts minutes; the same user's launches meanwhile start more than KEEP_RUNS runs."""
    from aishell_runner import playbook

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    with playbook._fresh_run_dir("fleet.yml") as long_run:
        for _ in range(playbook.KEEP_RUNS + 2):
            with playbook._fresh_run_dir("sandbox_launch.yml"):
                pass
        assert long_run.is_dir()  # in use: kept, while older finished ones went
        assert len(list(long_run.parent.iterdir())) == playbook.KEEP_RUNS + 2  # it, the last ten, the newest
    with playbook._fresh_run_dir("sandbox_launch.yml"):
        pass
    assert not long_run.exists()  # finished, and older than the last KEEP_RUNS: removed
    assert len(list(long_run.parent.iterdir())) == playbook.KEEP_RUNS + 1  # the ten, and the one just made
