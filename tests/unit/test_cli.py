"""The CLI's contract: exit statuses, one-line errors, JSON for scripts, no colour off a terminal."""

import json

import pytest

from aishell_runner import cli
from aishell_runner.commands import bootstrap
from aishell_runner.playbook import PlaybookResult, TaskFailure

REPORT = {
    "localhost": {
        "engines": {"docker": {"version": "20.10.24", "service": "no-init", "verified": True}},
        "rootless_users": {"alice": {"storage_driver": "overlay", "verified": True}},
    }
}


@pytest.fixture
def as_root(monkeypatch):
    monkeypatch.setattr(bootstrap.os, "geteuid", lambda: 0)


def fake_playbook(monkeypatch, result, seen=None):
    def run_playbook(name, extravars, *, check=False, on_task=None, **_):
        if seen is not None:
            seen.update(name=name, extravars=extravars, check=check)
        if on_task:
            on_task("Install the engine's packages with apt")
        return result

    monkeypatch.setattr(bootstrap, "run_playbook", run_playbook)


def ok_result(tmp_path):
    return PlaybookResult(
        rc=0, status="successful", log=tmp_path / "stdout",
        custom_stats={"aishell_bootstrap": REPORT}, changed={"localhost": 0},
    )


def test_version_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("aishell-run ")


def test_help_answers_with_examples(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bootstrap", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "--rootless-user alice" in out


def test_unknown_engine_is_a_usage_error_without_traceback(capsys):
    assert cli.main(["bootstrap", "--engine", "dockr"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'dockr'" in err and "Traceback" not in err


def test_bootstrap_passes_engines_and_rootless_users_to_the_playbook(monkeypatch, tmp_path, as_root):
    seen = {}
    fake_playbook(monkeypatch, ok_result(tmp_path), seen)
    argv = ["bootstrap", "--engine", "docker", "--engine", "podman", "--rootless-user", "alice", "--check"]
    assert cli.main(argv) == 0
    assert seen == {
        "name": "bootstrap.yml",
        "extravars": {"bootstrap_engines": ["docker", "podman"], "container_runtime_rootless_users": ["alice"]},
        "check": True,
    }


def test_json_output_is_one_document_with_the_report(monkeypatch, tmp_path, capsys, as_root):
    fake_playbook(monkeypatch, ok_result(tmp_path))
    assert cli.main(["--json", "bootstrap"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is True
    assert document["hosts"] == REPORT
    assert document["changed"] == {"localhost": 0}
    assert set(document) == {"ok", "check", "hosts", "changed", "failures", "log"}


def test_summary_has_no_colour_codes_off_a_terminal(monkeypatch, tmp_path, capsys, as_root):
    fake_playbook(monkeypatch, ok_result(tmp_path))
    assert cli.main(["bootstrap"]) == 0
    captured = capsys.readouterr()
    assert "20.10.24" in captured.out and "overlay" in captured.out
    assert "\x1b[" not in captured.out + captured.err


def test_failed_task_ends_with_one_message_naming_task_host_and_log(monkeypatch, tmp_path, capsys, as_root):
    failure = TaskFailure(host="localhost", task="Check that every rootless user exists", message="bob does not exist")
    fake_playbook(monkeypatch, PlaybookResult(rc=2, status="failed", log=tmp_path / "stdout", failures=[failure]))
    assert cli.main(["bootstrap", "--rootless-user", "bob"]) == 1
    err = capsys.readouterr().err
    assert "localhost failed at 'Check that every rootless user exists': bob does not exist" in err
    assert str(tmp_path / "stdout") in err
    assert "Traceback" not in err


def test_argument_spec_failure_is_a_usage_error(monkeypatch, tmp_path, as_root):
    failure = TaskFailure(
        host="localhost",
        task="Validating arguments against arg spec main",
        message="value of container_runtime_engine must be one of: auto, docker, podman, got: dockr",
    )
    assert failure.is_argument_error
    fake_playbook(monkeypatch, PlaybookResult(rc=2, status="failed", log=tmp_path / "x", failures=[failure]))
    assert cli.main(["bootstrap"]) == 2


def test_non_root_without_sudo_is_refused_before_ansible_runs(monkeypatch, capsys):
    monkeypatch.setattr(bootstrap.os, "geteuid", lambda: 1000)
    monkeypatch.setenv("PATH", "/nonexistent")  # no sudo to be found
    monkeypatch.setattr(bootstrap, "run_playbook", lambda *a, **k: pytest.fail("Ansible must not start"))
    assert cli.main(["bootstrap"]) == 2
    assert "needs root" in capsys.readouterr().err


def test_unexpected_error_is_logged_not_shown(monkeypatch, tmp_path, capsys, as_root):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(bootstrap, "run_playbook", boom)
    assert cli.main(["bootstrap"]) == 1
    err = capsys.readouterr().err
    assert "internal error: boom" in err and "Traceback" not in err
    logs = list((tmp_path / "aishell" / "logs").glob("crash-*.log"))
    assert logs and "RuntimeError: boom" in logs[0].read_text()


def test_interrupt_exits_130_with_one_line(monkeypatch, capsys, as_root):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bootstrap, "run_playbook", interrupted)
    assert cli.main(["bootstrap"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_build_refuses_a_malformed_agent_pin(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["build", "--engine", "docker", "--agent", "clod=1"]) == 2
    err = capsys.readouterr().err
    assert "NAME=VERSION" in err and "claude" in err
