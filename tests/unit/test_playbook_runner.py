"""run_playbook with the real ansible-runner on a throwaway playbook: events and custom stats flow through."""

from pathlib import Path

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
          aishell_bootstrap: {localhost: {engines: {docker: {verified: true}}}}
        per_host: false
    - name: Fail when asked
      ansible.builtin.fail:
        msg: asked to fail
      when: fail | default(false) | bool
"""


def make_project(tmp_path: Path) -> Path:
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


def test_task_names_and_custom_stats_come_from_events(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    root = make_project(tmp_path)
    tasks = []
    result = run_playbook("tiny.yml", {}, on_task=tasks.append, root=root, inventory=root / "hosts.yml")
    assert result.ok, result.failures
    assert tasks[:2] == ["Say hello", "Publish a report"]
    assert result.custom_stats == {"aishell_bootstrap": {"localhost": {"engines": {"docker": {"verified": True}}}}}
    assert result.changed == {"localhost": 0}
    assert result.log.is_file()


def test_failure_carries_host_task_and_message(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    root = make_project(tmp_path)
    result = run_playbook("tiny.yml", {"fail": True}, root=root, inventory=root / "hosts.yml")
    assert not result.ok
    [failure] = result.failures
    assert (failure.host, failure.task, failure.message) == ("localhost", "Fail when asked", "asked to fail")


def test_each_run_gets_a_fresh_private_directory_and_old_ones_are_pruned(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    root = make_project(tmp_path)
    runs = tmp_path / "state" / "aishell" / "runs"
    runs.mkdir(parents=True)
    for index in range(12):
        (runs / f"20000101-000000-{index:06d}-old").mkdir()
    run_playbook("tiny.yml", {}, root=root, inventory=root / "hosts.yml")
    remaining = sorted(path.name for path in runs.iterdir())
    assert len(remaining) == 11 and remaining[-1].endswith("-tiny")
