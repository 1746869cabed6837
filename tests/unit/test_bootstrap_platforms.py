"""`aishell-run bootstrap` on WSL2 and macOS: the options and notes that only those hosts need."""

from __future__ import annotations

from aishell_runner import cli
from aishell_runner.commands import bootstrap
from aishell_runner.playbook import PlaybookResult

RESTART_NOTE = "/etc/wsl.conf turns systemd on, but this session started without it. Run `wsl --shutdown` once"


def run(monkeypatch, tmp_path, argv, report, euid=0, platform="linux"):
    seen = {}

    def run_playbook(name, extravars, *, check=False, on_task=None, **_):
        seen.update(name=name, extravars=extravars)
        return PlaybookResult(rc=0, status="successful", log=tmp_path / "stdout",
                              custom_stats={"aishell_bootstrap": report}, changed={"localhost": 1})

    monkeypatch.setattr(bootstrap, "run_playbook", run_playbook)
    monkeypatch.setattr(bootstrap.os, "geteuid", lambda: euid)
    monkeypatch.setattr(bootstrap.sys, "platform", platform)
    return cli.main(argv), seen


def test_wsl_systemd_asks_the_role_to_turn_systemd_on(monkeypatch, tmp_path):
    status, seen = run(monkeypatch, tmp_path, ["bootstrap", "--wsl-systemd"], {})
    assert status == 0 and seen["extravars"]["container_runtime_wsl_systemd"] is True


def test_the_role_notes_reach_the_user_once(monkeypatch, tmp_path, capsys):
    engines = {"docker": {"version": "20.10.24", "service": "no-init", "verified": True}}
    report = {"localhost": {"engines": engines, "rootless_users": {}, "notes": [RESTART_NOTE, RESTART_NOTE]}}
    status, _ = run(monkeypatch, tmp_path, ["bootstrap", "--engine", "docker", "--engine", "podman"], report)
    out = capsys.readouterr().out
    assert status == 0 and out.count("wsl --shutdown") == 1 and "note (localhost)" in out


def test_macos_bootstraps_as_the_user_without_sudo(monkeypatch, tmp_path):
    monkeypatch.setattr(bootstrap.subprocess, "run", lambda *a, **k: (_ for _ in ()).throw(AssertionError("sudo")))
    status, seen = run(monkeypatch, tmp_path, ["bootstrap"], {}, euid=501, platform="darwin")
    assert status == 0 and seen["name"] == "bootstrap.yml"
