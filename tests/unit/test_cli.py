"""The CLI's contract: exit statuses, one-message errors, JSON for scripts, colours only where wanted.

Ansible is faked here (bootstrap.run_playbook is replaced); test_playbook_runner.py runs the real one.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from aishell_runner import __version__, cli
from aishell_runner.commands import bootstrap
from aishell_runner.playbook import PlaybookResult, TaskFailure

REPORT = {
    "localhost": {
        "engines": {"docker": {"version": "20.10.24", "service": "no-init", "verified": True}},
        "rootless_users": {"alice": {"storage_driver": "overlay", "verified": True}},
    }
}
COLOUR_CODE = re.compile(r"\x1b\[[0-9;]*(3[0-9]|9[0-7])m")  # SGR foreground colours


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch, tmp_path):
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))


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


def ok_result(tmp_path, report=REPORT, changed=None):
    return PlaybookResult(
        rc=0, status="successful", log=tmp_path / "stdout",
        custom_stats={"aishell_bootstrap": report}, changed=changed or {"localhost": 0},
    )


def failed_result(tmp_path, failure):
    return PlaybookResult(rc=2, status="failed", log=tmp_path / "stdout", failures=[failure])


def test_version_prints_the_package_version(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"aishell-run {__version__}"


def test_help_answers_with_examples(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "bootstrap" in out and "exit status" in out


def test_bootstrap_help_answers_with_examples(capsys):
    assert cli.main(["bootstrap", "--help"]) == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "--rootless-user alice" in out and "--check" in out


def test_no_command_is_a_usage_error(capsys):
    assert cli.main([]) == 2
    assert "no command given" in capsys.readouterr().err


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


def test_bootstrap_defaults_to_auto_and_no_rootless_users(monkeypatch, tmp_path, as_root):
    seen = {}
    fake_playbook(monkeypatch, ok_result(tmp_path), seen)
    assert cli.main(["bootstrap"]) == 0
    assert seen["extravars"] == {"bootstrap_engines": ["auto"], "container_runtime_rootless_users": []}
    assert seen["check"] is False


def test_bootstrap_gvisor_asks_the_role_for_runsc(monkeypatch, tmp_path, as_root):
    seen = {}
    fake_playbook(monkeypatch, ok_result(tmp_path), seen)
    assert cli.main(["bootstrap", "--gvisor"]) == 0
    assert seen["extravars"]["container_runtime_gvisor"] is True


def test_the_summary_says_where_gvisor_is_and_why_not(monkeypatch, tmp_path, capsys, as_root):
    report = {"localhost": {
        "engines": {"docker": {"version": "20.10.24", "service": "no-init", "verified": True,
                               "gvisor": {"available": True, "reason": ""}},
                    "podman": {"version": "4.3.1", "service": "daemonless", "verified": True,
                               "gvisor": {"available": False, "reason": "runsc is installed but does not run on "
                                                                        "this host: no ptrace"}}},
        "rootless_users": {"alice": {"storage_driver": "overlay", "verified": True,
                                     "gvisor": {"available": False, "reason": "a container under runsc failed"}}}}}
    fake_playbook(monkeypatch, ok_result(tmp_path, report=report))
    monkeypatch.setenv("COLUMNS", "250")  # each reason on one line
    assert cli.main(["bootstrap", "--gvisor", "--engine", "docker", "--engine", "podman"]) == 0
    out = capsys.readouterr().out
    assert "gVisor" in out and "yes" in out and "no: runsc is installed but does not run on this host" in out
    assert "no: a container under runsc failed" in out


def test_gvisor_asked_of_an_engine_whose_set_up_has_none_says_so(monkeypatch, tmp_path, capsys, as_root):
    fake_playbook(monkeypatch, ok_result(tmp_path))  # a report without gvisor entries (the Lima role's)
    monkeypatch.setenv("COLUMNS", "250")
    assert cli.main(["bootstrap", "--gvisor"]) == 0
    assert "no: this engine's set-up does not install runsc (macOS's Lima VM)" in capsys.readouterr().out


def test_rootless_user_without_podman_is_a_usage_error(monkeypatch, as_root, capsys):
    monkeypatch.setattr(bootstrap, "run_playbook", lambda *a, **k: pytest.fail("Ansible must not start"))
    assert cli.main(["bootstrap", "--engine", "docker", "--rootless-user", "alice"]) == 2
    assert "--engine podman" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--json", "bootstrap"], ["bootstrap", "--json"]])
def test_json_output_is_one_document_with_the_report(monkeypatch, tmp_path, capsys, as_root, argv):
    fake_playbook(monkeypatch, ok_result(tmp_path, changed={"localhost": 2}))
    assert cli.main(argv) == 0
    document = json.loads(capsys.readouterr().out)  # fails on anything but exactly one document
    assert set(document) == {"ok", "check", "hosts", "changed", "failures", "log"}
    assert document["ok"] is True and document["check"] is False
    assert document["hosts"] == REPORT
    assert document["changed"] == {"localhost": 2}
    assert document["failures"] == [] and document["log"] == str(tmp_path / "stdout")


def test_json_failure_still_prints_the_report_and_exits_1(monkeypatch, tmp_path, capsys, as_root):
    failure = TaskFailure(host="localhost", task="Check that every rootless user exists", message="bob does not exist")
    fake_playbook(monkeypatch, failed_result(tmp_path, failure))
    assert cli.main(["bootstrap", "--engine", "podman", "--rootless-user", "bob", "--json"]) == 1
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert document["ok"] is False
    assert document["failures"] == [{"host": "localhost", "task": "Check that every rootless user exists",
                                     "message": "bob does not exist", "unreachable": False}]
    assert "bob does not exist" in captured.err


def test_json_error_before_ansible_is_still_one_document(monkeypatch, capsys):
    monkeypatch.setattr(bootstrap.os, "geteuid", lambda: 1000)
    monkeypatch.setenv("PATH", "/nonexistent")  # no sudo to be found
    assert cli.main(["bootstrap", "--json"]) == 2
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is False and document["exit_code"] == 2 and "needs root" in document["error"]


def test_summary_shows_engines_users_and_changes_without_colour_off_a_terminal(monkeypatch, tmp_path, capsys,
                                                                               as_root):
    fake_playbook(monkeypatch, ok_result(tmp_path))
    assert cli.main(["bootstrap", "--engine", "docker", "--engine", "podman", "--rootless-user", "alice"]) == 0
    captured = capsys.readouterr()
    for expected in ("docker", "20.10.24", "no-init", "alice", "overlay", "Changed tasks: localhost: 0"):
        assert expected in captured.out
    assert "\x1b[" not in captured.out + captured.err
    assert "Install the engine's packages with apt" in captured.err  # plain progress lines, on stderr


def test_summary_tolerates_a_partial_report_in_check_mode(monkeypatch, tmp_path, capsys, as_root):
    partial = {"localhost": {"engines": {"podman": {"version": "4.3.1"}, "docker": "garbled"}}, "web1": None}
    fake_playbook(monkeypatch, ok_result(tmp_path, report=partial))
    assert cli.main(["bootstrap", "--check"]) == 0
    out = capsys.readouterr().out
    assert "Check mode" in out and "4.3.1" in out and "not run" in out
    assert "Would change tasks: localhost: 0" in out


def test_no_color_wins_even_on_a_terminal(monkeypatch, tmp_path, capsys, as_root):
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich then treats the captured output as a terminal
    fake_playbook(monkeypatch, ok_result(tmp_path))
    assert cli.main(["bootstrap"]) == 0
    assert COLOUR_CODE.search(capsys.readouterr().out), "the test needs colours to be on by default here"

    monkeypatch.setenv("NO_COLOR", "")  # any value, even empty, turns colours off
    assert cli.main(["bootstrap"]) == 0
    assert not COLOUR_CODE.search(capsys.readouterr().out)

    monkeypatch.delenv("NO_COLOR")
    assert cli.main(["bootstrap", "--no-color"]) == 0
    assert not COLOUR_CODE.search(capsys.readouterr().out)


def test_failed_task_ends_with_one_message_naming_task_host_and_log(monkeypatch, tmp_path, capsys, as_root):
    failure = TaskFailure(host="localhost", task="Check that every rootless user exists", message="bob does not exist")
    fake_playbook(monkeypatch, failed_result(tmp_path, failure))
    assert cli.main(["bootstrap", "--engine", "podman", "--rootless-user", "bob"]) == 1
    captured = capsys.readouterr()
    assert "localhost failed at 'Check that every rootless user exists': bob does not exist" in captured.err
    assert str(tmp_path / "stdout") in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_argument_spec_failure_is_a_usage_error(monkeypatch, tmp_path, as_root):
    failure = TaskFailure(
        host="localhost",
        task="Validating arguments against arg spec 'main' - Install, configure and verify a container engine.",
        message="Validation of arguments failed:\nvalue of container_runtime_engine must be one of: auto, docker,"
                " podman, got: dockr",
    )
    fake_playbook(monkeypatch, failed_result(tmp_path, failure))
    assert cli.main(["bootstrap"]) == 2


def test_non_root_without_sudo_is_refused_before_ansible_runs(monkeypatch, capsys):
    monkeypatch.setattr(bootstrap.os, "geteuid", lambda: 1000)
    monkeypatch.setenv("PATH", "/nonexistent")  # no sudo to be found
    monkeypatch.setattr(bootstrap, "run_playbook", lambda *a, **k: pytest.fail("Ansible must not start"))
    assert cli.main(["bootstrap"]) == 2
    err = capsys.readouterr().err
    assert "bootstrap needs root to install packages" in err and "sudo" in err


def test_unexpected_error_is_logged_not_shown(monkeypatch, tmp_path, capsys, as_root):
    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(bootstrap, "run_playbook", boom)
    assert cli.main(["bootstrap"]) == 1
    err = capsys.readouterr().err
    assert "internal error: boom" in err and "Traceback" not in err
    [log] = (tmp_path / "state" / "aishell" / "logs").glob("crash-*.log")
    assert str(log) in err
    assert "RuntimeError: boom" in log.read_text()


def test_interrupt_exits_130_with_one_line(monkeypatch, capsys, as_root):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(bootstrap, "run_playbook", interrupted)
    assert cli.main(["bootstrap"]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err


def test_build_refuses_a_malformed_agent_pin(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["build", "--engine", "docker", "--agent", "clod=1"]) == 2
    err = capsys.readouterr().err
    assert "NAME=VERSION" in err and "claude" in err


def test_check_without_any_engine_says_how_to_fix_it_and_exits_4(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # neither docker nor podman installed
    assert cli.main(["--json", "check"]) == 4
    findings = json.loads(capsys.readouterr().out)
    engine = next(f for f in findings if f["what"] == "container engine")
    assert not engine["ok"] and "bootstrap" in engine["fix"]


def test_a_commands_option_written_before_the_command_is_named_with_where_it_goes(capsys):
    assert cli.main(["--project", "/tmp", "claude"]) == 2
    err = capsys.readouterr().err
    assert "--project belongs to a command" in err and "aishell-run claude --project" in err


def test_the_command_runs_without_the_cycle_collector_and_long_work_turns_it_back_on(tmp_path) -> None:
    # In a process of its own: the command's entry point turns the collector off for the whole process.
    (tmp_path / "playbooks").mkdir()
    (tmp_path / "playbooks" / "empty.yml").write_text("- hosts: localhost\n  gather_facts: false\n  tasks: []\n")
    (tmp_path / "notes.txt").write_text("password = 'not-so-secret-at-all'\n")
    script = ("import gc, sys; from pathlib import Path; from aishell_runner import cli, playbook, scan; "
              "sys.argv = ['aishell-run', '--version']; code = cli.entry(); print(gc.isenabled()); "
              "scan.scan_tree(Path.cwd(), content=False, cache_dir=Path('cache')); print(gc.isenabled()); "
              "scan.scan_tree(Path.cwd(), cache_dir=Path('cache')); print(gc.isenabled()); gc.disable(); "
              "playbook.run_playbook('empty.yml', {}, root=Path.cwd()); "
              "print(gc.isenabled()); sys.exit(code)")
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    assert run.returncode == 0, run.stderr
    # Off from the start; still off after a scan of names only; on once file contents are read, and for a playbook.
    assert run.stdout.split()[-6:] == ["aishell-run", __version__, "False", "False", "True", "True"]
