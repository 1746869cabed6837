"""`aishell-run bootstrap` end to end on this machine (provisioned by `make test`)."""

import json
import subprocess
import sys
from pathlib import Path

AISHELL_RUN = str(Path(sys.executable).parent / "aishell-run")


def test_check_json_reports_every_engine_and_changes_nothing():
    run = subprocess.run(
        [AISHELL_RUN, "bootstrap", "--engine", "docker", "--engine", "podman",
         "--rootless-user", "aishell-test", "--check", "--json"],
        capture_output=True, text=True, cwd="/",
    )
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["ok"] is True and document["check"] is True
    assert document["changed"] == {"localhost": 0}
    host = document["hosts"]["localhost"]
    assert host["engines"]["docker"]["version"]
    assert host["engines"]["podman"]["service"] == "daemonless"
    assert host["rootless_users"]["aishell-test"]["storage_driver"] == "overlay"


def test_unknown_rootless_user_ends_with_one_message_and_exit_1():
    run = subprocess.run(
        [AISHELL_RUN, "bootstrap", "--engine", "podman", "--rootless-user", "nobody-here"],
        capture_output=True, text=True, cwd="/",
    )
    assert run.returncode == 1
    assert "nobody-here" in run.stderr and "Traceback" not in run.stderr
    assert run.stdout == ""
