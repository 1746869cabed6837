"""This machine, as `make test` bootstrapped it, runs containers with every configured engine."""

import subprocess

from tests.ansible_helpers import run_play
from tests.integration.conftest import PROVISIONED, ROOTLESS_USER, VERIFY_IMAGE, run_as_rootless_user


def test_docker_runs_a_container():
    out = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", VERIFY_IMAGE, "echo", "docker-ok"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert out.strip() == "docker-ok"


def test_rootful_podman_runs_a_container():
    out = subprocess.run(
        ["podman", "run", "--rm", "--network", "none", VERIFY_IMAGE, "echo", "podman-ok"],
        capture_output=True, text=True, check=True,
    ).stdout
    assert out.strip() == "podman-ok"


def test_rootless_user_runs_containers_as_itself_on_overlay():
    uid = subprocess.run(["id", "-u", ROOTLESS_USER], capture_output=True, text=True, check=True).stdout.strip()
    driver = run_as_rootless_user("podman info --format {{.Store.GraphDriverName}}")
    assert driver.stdout.strip() == "overlay", driver.stderr
    run = run_as_rootless_user(f"podman run --rm --userns=keep-id {VERIFY_IMAGE} id -u")
    assert run.stdout.strip() == uid, run.stderr


def test_docker_and_rootful_podman_run_a_container_under_gvisor():
    for engine in ("docker", "podman"):
        run = subprocess.run([engine, "run", "--rm", "--runtime", "runsc", VERIFY_IMAGE, "dmesg"],
                             capture_output=True, text=True)
        assert "Starting gVisor" in run.stdout, (engine, run.stdout, run.stderr)  # the host's kernel says no such thing


def test_check_mode_on_the_converged_host_reports_nothing_to_change(tmp_path):
    outcome = run_play("playbooks/bootstrap.yml", tmp_path, extravars=PROVISIONED, cmdline="--check --diff")
    assert outcome.rc == 0, outcome.failure_messages
    assert outcome.changed() == 0


def test_rerun_on_the_converged_host_changes_nothing_and_reports_each_engine(tmp_path):
    outcome = run_play("playbooks/bootstrap.yml", tmp_path, extravars=PROVISIONED)
    assert outcome.rc == 0, outcome.failure_messages
    assert outcome.changed() == 0
    # The converged path asks dpkg, not apt, and runs the verification images it has, building none.
    slow = [task for task in outcome.ran
            if task.startswith(("Install the engine's packages with", "Build the verification image with"))]
    assert not slow, slow
    report = outcome.custom_stats["aishell_bootstrap"]["localhost"]
    assert report["engines"]["docker"]["verified"] is True
    assert report["engines"]["docker"]["service"] == "no-init"
    assert report["engines"]["podman"]["verified"] is True
    # gVisor (provision.yml asks for it): a container ran under runsc as root with each engine; rootless Podman
    # cannot run it with a network (gVisor issue 7449), and the report says so rather than claim it.
    assert report["engines"]["docker"]["gvisor"] == {"available": True, "reason": ""}
    assert report["engines"]["podman"]["gvisor"] == {"available": True, "reason": ""}
    rootless = report["rootless_users"][ROOTLESS_USER]
    assert (rootless["storage_driver"], rootless["verified"]) == ("overlay", True)
    assert rootless["gvisor"]["available"] is False and "7449" in rootless["gvisor"]["reason"], rootless


def test_missing_rootless_user_fails_before_any_change(tmp_path):
    outcome = run_play(
        "playbooks/bootstrap.yml",
        tmp_path,
        extravars={"bootstrap_engines": ["podman"], "container_runtime_rootless_users": ["no-such-user"]},
    )
    assert outcome.rc != 0
    message = " ".join(outcome.failure_messages)
    assert "no-such-user" in message and "do not exist" in message
    assert outcome.changed() == 0


def test_check_finds_nothing_to_fix_on_the_provisioned_host():
    import json
    import sys
    from pathlib import Path

    run = subprocess.run([str(Path(sys.executable).parent / "aishell-run"), "check", "--json"],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    findings = json.loads(run.stdout)
    assert {f["what"] for f in findings} >= {"docker engine", "podman engine", "podman storage", "CA bundle"}
    assert all(f["ok"] for f in findings)
