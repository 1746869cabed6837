"""Sessions never outlive their wrapper: the watchdog, and the records later launches clean up after."""

import json
import os
import subprocess
import sys
import time

import pytest

from aishell_runner import owner


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setattr(owner, "POLL_SECONDS", 0.1)


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_killed_wrapper_is_cleaned_up_after_by_its_watchdog(tmp_path):
    marker = tmp_path / "cleaned"
    # A stand-in wrapper: it guards a session, then is killed outright before it can clean up.
    code = ("import sys, time; from aishell_runner import owner; owner.POLL_SECONDS = 0.1; "
            f"owner.Guard('s1', [['touch', {str(marker)!r}]]).watch(); print('guarded', flush=True); time.sleep(60)")
    wrapper = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=os.environ)
    assert wrapper.stdout.readline().strip() == "guarded"
    assert (owner.records_dir() / "s1.json").exists() and not marker.exists()
    wrapper.kill()
    wrapper.wait()
    assert wait_for(marker.exists), "the watchdog did not clean up"
    assert wait_for(lambda: not (owner.records_dir() / "s1.json").exists())


def test_a_session_that_ends_normally_leaves_no_watchdog_and_no_record(tmp_path):
    marker = tmp_path / "cleaned"
    guard = owner.Guard("s2", [["touch", str(marker)]])
    guard.watch()
    guard.release()
    assert guard.watchdog.poll() is not None
    assert list(owner.records_dir().iterdir()) == []
    time.sleep(0.3)
    assert not marker.exists()  # the wrapper is alive: nothing was removed behind its back


def write_record(name, **record):
    owner.records_dir().mkdir(parents=True, exist_ok=True)
    (owner.records_dir() / f"{name}.json").write_text(json.dumps(record))


def test_records_of_dead_owners_or_an_earlier_boot_are_reaped_live_ones_kept(tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    steps = {name: [["touch", str(tmp_path / name)]] for name in ("dead", "rebooted", "alive")}
    write_record("dead", owner=dead.pid, boot=owner.boot_id(), cleanup=steps["dead"])
    write_record("rebooted", owner=os.getpid(), boot="an-earlier-boot", cleanup=steps["rebooted"])
    write_record("alive", owner=os.getpid(), boot=owner.boot_id(), cleanup=steps["alive"])
    (owner.records_dir() / "torn.json").write_text('{"owner": 1')
    assert sorted(owner.reap_orphans()) == ["dead", "rebooted"]
    assert (tmp_path / "dead").exists() and (tmp_path / "rebooted").exists() and not (tmp_path / "alive").exists()
    assert sorted(p.name for p in owner.records_dir().iterdir()) == ["alive.json"]


def test_no_records_no_work():
    assert owner.reap_orphans() == []


def test_the_record_comes_before_the_client_and_the_watchdog_once_it_runs(tmp_path):
    from aishell_runner.engines.docker import Docker
    from aishell_runner.session import run_session

    guard = owner.Guard("s3", [["touch", str(tmp_path / "cleaned")]])
    assert (owner.records_dir() / "s3.json").exists() and guard.watchdog is None  # a kill now: a later launch reaps
    seen = []
    status = run_session(Docker(), ["sh", "-c", "exit 3"], "s3", os.environ,
                         started=lambda: seen.append(guard.watch() or guard.watchdog.poll()))
    assert status == 3 and seen == [None]  # the watchdog ran beside the client
    guard.release()
    assert guard.watchdog.poll() is not None and not (owner.records_dir() / "s3.json").exists()
