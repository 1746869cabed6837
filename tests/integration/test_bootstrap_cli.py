"""`aishell-run bootstrap` end to end: the installed console script, real ansible-runner, real engines.

Passes once `make test` has provisioned this machine (tests/provision.yml); run as root, as `make test` is.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

# The console script of the interpreter running the tests (the project's .venv).
AISHELL_RUN = str(Path(sys.executable).parent / "aishell-run")


def aishell_run(*args: str) -> subprocess.CompletedProcess:
    # cwd "/": the CLI must find the playbooks from its install, not from the current directory.
    return subprocess.run([AISHELL_RUN, *args], capture_output=True, text=True, cwd="/", timeout=900)


@pytest.mark.integration
def test_bootstrap_check_json_reports_the_docker_engine():
    run = aishell_run("bootstrap", "--engine", "docker", "--check", "--json")
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)  # exactly one JSON document on stdout
    assert document["ok"] is True and document["check"] is True
    assert document["failures"] == []
    assert Path(document["log"]).is_file()
    docker = document["hosts"]["localhost"]["engines"]["docker"]
    assert docker["version"]
    assert docker["service"] in ("systemd", "no-init")


@pytest.mark.integration
def test_check_json_reports_every_engine_and_changes_nothing():
    run = aishell_run("bootstrap", "--engine", "docker", "--engine", "podman",
                      "--rootless-user", "aishell-test", "--check", "--json")
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["ok"] is True and document["check"] is True
    assert document["changed"] == {"localhost": 0}
    host = document["hosts"]["localhost"]
    assert host["engines"]["docker"]["version"]
    assert host["engines"]["podman"]["service"] == "daemonless"
    assert host["rootless_users"]["aishell-test"]["storage_driver"] == "overlay"


@pytest.mark.integration
def test_unknown_rootless_user_ends_with_one_message_and_exit_1():
    run = aishell_run("bootstrap", "--engine", "podman", "--rootless-user", "nobody-here")
    assert run.returncode == 1
    assert "nobody-here" in run.stderr and "Traceback" not in run.stderr
    assert run.stdout == ""
