"""The fleet report callback's verdicts per host, from Ansible's stats and failure events (no Ansible run)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "aishell_fleet_report", REPO / "playbooks" / "callback_plugins" / "aishell_fleet_report.py")
callback = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(callback)

DOCKER = {"docker": {"version": "20.10.24", "service": "no-init", "verified": True}}


def stats(**custom):
    return SimpleNamespace(
        processed={"ok-host": 1, "failed-host": 1, "lost-host": 1},
        failures={"failed-host": 1},
        dark={"lost-host": 1},
        changed={"ok-host": 3},
        custom={"_run": {"aishell_fleet_targets": ["ok-host", "failed-host", "lost-host", "later-host"], **custom}},
    )


def test_each_host_gets_its_status_engines_and_reason():
    failures = {
        "failed-host": {"task": "Check that every rootless user exists", "message": "no user bob",
                        "unreachable": False},
        "lost-host": {"task": "Gathering Facts", "message": "ssh: connect refused", "unreachable": True},
    }
    report = callback.build_report(stats(aishell_bootstrap={"ok-host": {"engines": DOCKER, "rootless_users": {}}}),
                                   failures, check=False)
    hosts = report["hosts"]
    assert {name: info["status"] for name, info in hosts.items()} == {
        "ok-host": "ok", "failed-host": "failed", "lost-host": "unreachable", "later-host": "not run"}
    assert hosts["ok-host"]["engines"] == DOCKER and hosts["ok-host"]["verified"] is True
    assert hosts["ok-host"]["changed"] == 3 and hosts["ok-host"]["failure"] is None
    assert hosts["failed-host"]["failure"]["message"] == "no user bob"
    assert report["ok"] is False
    assert report["counts"] == {"ok": 1, "failed": 1, "unreachable": 1, "not run": 1}


def test_verification_not_run_in_check_mode_is_neither_yes_nor_no():
    engines = {"podman": {"version": "4.3.1", "verified": None}}
    report = callback.build_report(stats(aishell_bootstrap={"ok-host": {"engines": engines}}), {}, check=True)
    assert report["check"] is True and report["hosts"]["ok-host"]["verified"] is None
    assert "not run" in callback.render_table(report)


def test_reason_of_a_failed_command_is_its_last_stderr_line():
    assert callback._reason({"msg": "non-zero return code", "stderr": "warning\nerror: lock refused"}) == \
        "non-zero return code: error: lock refused"
    assert callback._reason({"results": [{"failed": False}, {"failed": True, "msg": "item broke"}]}) == "item broke"
