"""The scan's verdict at launch, on a real Docker Engine: refusal, confirmation, allowlist, hidden files."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from tests.integration.conftest import sandbox_config
from tests.integration.test_sandbox_launch import our_containers

AISHELL_RUN = str(Path(sys.executable).parent / "aishell-run")
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a real key, but planted as one\n-----END OPENSSH PRIVATE KEY-----\n"


# The state directory the sandbox tests that set none use (test_sandbox_sessions.py comes next, and before this
# module test_sandbox_launch.py's last test has a fresh one): the egress proxy (one per engine and user) mounts its
# directories from it, so a state directory of the module's own made its first launch make the proxy anew, and
# the next module's first launch made it anew again (about 40 s each on CI's 2 cores); a state directory of each
# test's own made every launch a cold one. Each test reads its own project's audit entries.
@pytest.fixture(scope="module")
def state():
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")


def make_project(tmp_path: Path, extra_config: str = "", runtime: str = "runc") -> Path:
    root = tmp_path / "project"
    (root / ".aishell").mkdir(parents=True)
    (root / ".aishell" / "config.yaml").write_text(sandbox_config("docker", runtime) + extra_config)
    (root / "id_ed25519").write_text(KEY)
    (root / "secrets").mkdir()
    (root / "secrets" / "prod.txt").write_text("keep me\n")
    (root / "README.md").write_text("a project\n")
    return root


def aishell(project, state, *args):
    env = {**os.environ, "XDG_STATE_HOME": str(state)}
    return subprocess.run([AISHELL_RUN, *args], cwd=project, capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL)


def audit(state, project):
    """The audit log's entries of `project` (each test's project is its own)."""
    entries = [json.loads(line) for line in (state / "aishell" / "audit.jsonl").read_text().splitlines()]
    return [entry for entry in entries if entry["project"] == str(project)]


def test_a_high_finding_refuses_a_non_interactive_launch_with_status_3(tmp_path, state):
    project = make_project(tmp_path)
    run = aishell(project, state, "exec", "--", "touch", "started")
    assert run.returncode == 3, run.stderr
    assert "id_ed25519" in run.stderr and "ssh-private-key" in run.stderr
    assert "--accept-findings" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (project / "started").exists()
    assert our_containers(project) == []
    [entry] = audit(state, project)
    assert entry["decision"] == "refused (not interactive)"
    assert entry["project"] == str(project)
    assert {f["rule"] for f in entry["findings"]} >= {"ssh-private-key"}


def test_accept_findings_launches_and_the_decision_is_logged(tmp_path, state):
    project = make_project(tmp_path)
    run = aishell(project, state, "exec", "--accept-findings", "--", "cat", "id_ed25519")
    assert run.returncode == 0, run.stderr
    assert run.stdout == KEY
    assert audit(state, project)[-1]["decision"] == "accepted (--accept-findings)"


def test_an_allowlisted_fingerprint_does_not_block(tmp_path, state):
    project = make_project(tmp_path)
    scan = aishell(project, state, "scan", "--json")
    assert scan.returncode == 0, scan.stderr
    fingerprints = [f["fingerprint"] for f in json.loads(scan.stdout)["findings"] if f["severity"] == "high"]
    assert fingerprints
    with open(project / ".aishell" / "config.yaml", "a") as config:
        config.write(f"scan: {{allow: {json.dumps(fingerprints)}}}\n")
    run = aishell(project, state, "exec", "--", "true")
    assert run.returncode == 0, run.stderr


# runsc: the same under gVisor (security.runtime), whose file system is its own (the gofer serves the mounts).
@pytest.mark.parametrize("runtime", ["runc", "runsc"])
def test_excluded_paths_are_empty_inside_and_untouched_outside(tmp_path, state, runtime):
    project = make_project(tmp_path, "exclude: [id_ed25519, secrets/]\n", runtime)
    inside = ("wc -c < id_ed25519; ls -A secrets | wc -l; "
              "(echo x > id_ed25519) 2>/dev/null && echo file-writable || echo file-read-only; "
              "(touch secrets/new) 2>/dev/null && echo dir-writable || echo dir-read-only; cat README.md; "
              "pwd; touch made-inside; dmesg 2>/dev/null | head -1")
    run = aishell(project, state, "exec", "--", "sh", "-c", inside)
    # Hidden files are not findings any more: no refusal, no flag needed.
    assert run.returncode == 0, run.stderr
    lines = run.stdout.split("\n")
    assert lines[:6] == ["0", "0", "file-read-only", "dir-read-only", "a project", str(project)]
    # The project at its own path, and what the sandbox made there the user's.
    made = (project / "made-inside").stat()
    assert (made.st_uid, made.st_gid) == (os.getuid(), os.getgid())
    # Under gVisor the kernel is gVisor's (the host's kernel log is not readable inside either way).
    assert ("Starting gVisor" in lines[6]) == (runtime == "runsc"), lines
    assert (project / "id_ed25519").read_text() == KEY
    assert (project / "secrets" / "prod.txt").read_text() == "keep me\n"
    assert not (project / "secrets" / "new").exists()
    plan = json.loads(aishell(project, state, "plan", "--json").stdout)
    assert plan["hidden"] == [str(project / "id_ed25519"), str(project / "secrets")]


def spawn(project, state, command):
    env = {**os.environ, "XDG_STATE_HOME": str(state), "NO_COLOR": "1"}
    return pexpect.spawn(AISHELL_RUN, ["exec", "--", "sh", "-c", command], cwd=str(project), env=env,
                         encoding="utf-8", timeout=120)


@pytest.mark.parametrize(
    ("answer", "status", "seen", "decision"),
    [
        ("n", 3, None, "refused at the prompt"),
        ("", 3, None, "refused at the prompt"),
        ("y", 0, f"size={len(KEY)}", "accepted at the prompt"),
        ("h", 0, "size=0", "hidden at the prompt"),
    ],
)
def test_the_prompt_at_a_terminal(tmp_path, state, answer, status, seen, decision):
    project = make_project(tmp_path)
    child = spawn(project, state, "echo size=$(wc -c < id_ed25519)")
    child.expect("Launch anyway")
    child.sendline(answer)
    output = child.read()
    child.close()
    assert child.exitstatus == status, output
    if seen:
        assert seen in output
    assert audit(state, project)[-1]["decision"] == decision
    assert our_containers(project) == []
    assert (project / "id_ed25519").read_text() == KEY
