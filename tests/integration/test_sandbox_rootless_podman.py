"""aishell-run as an ordinary user on rootless Podman: same path, the user's own files, secrets out of inspect.

The user runs the copy of aishell-run that tests/provision.yml installs for it;
the foundation image in its storage is the one test_sandbox_images.py builds.
"""

import json
import shlex
import subprocess
import time
import uuid
from pathlib import Path

import pexpect
import pytest

from tests.integration.conftest import (
    ROOTLESS_USER,
    checked,
    rootless_environment,
    run_as_rootless_user,
    sandbox_config,
)

AISHELL_RUN = "/opt/aishell-test/venv/bin/aishell-run"
CONFIG = sandbox_config("podman")
SECRET = "sk-ant-rootless-" + uuid.uuid4().hex


@pytest.fixture
def project():
    """A git project in the user's home (tests/ tmp dirs are root's own, 0700)."""
    home = subprocess.run(["sh", "-c", f"getent passwd {ROOTLESS_USER} | cut -d: -f6"], capture_output=True,
                          text=True, check=True).stdout.strip()
    root = f"{home}/project-{uuid.uuid4().hex[:8]}"
    setup = (f"mkdir -p {root}/.aishell && printf %s {shlex.quote(CONFIG)} > {root}/.aishell/config.yaml && "
             f"git init -q {root}")
    checked(as_user(setup), "making the test user's project")
    yield root
    checked(as_user(f"rm -rf {root}"), "removing the test user's project")


def as_user(command: str, env: str = "") -> subprocess.CompletedProcess:
    return run_as_rootless_user(f"{env} sh -c {shlex.quote(command)}")


def aishell(project: str, *args: str, env: str = "") -> subprocess.CompletedProcess:
    return as_user(f"cd {shlex.quote(project)} && {AISHELL_RUN} {shlex.join(args)}", env=env)


def sandboxes(project: str) -> list[str]:
    run = as_user(f"podman ps --all --quiet --filter label=org.aishell.project={project}")
    return checked(run, "listing the project's sandboxes").stdout.split()


def test_project_at_its_path_files_owned_by_the_user_container_removed(project):
    run = aishell(project, "exec", "--", "sh", "-c", "pwd; id -u; touch made-inside")
    assert run.returncode == 0, run.stderr
    uid = as_user("id -u").stdout.strip()
    assert run.stdout.split() == [project, uid]
    owner = as_user(f"stat -c %u {project}/made-inside").stdout.strip()
    assert owner == uid
    assert sandboxes(project) == []


def test_api_key_reaches_the_agent_but_not_podman_inspect(project):
    session = subprocess.Popen(
        ["su", ROOTLESS_USER, "-c",
         f"cd {project} && {rootless_environment('$(id -u)')} ANTHROPIC_API_KEY={SECRET} "
         f"{AISHELL_RUN} exec -- sh -c 'printenv ANTHROPIC_API_KEY > seen; sleep 60'"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (running := sandboxes(project)) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert running, session.stderr.read() if session.poll() is not None else "no sandbox started"
        while as_user(f"test -s {project}/seen").returncode and time.monotonic() < deadline:
            time.sleep(0.2)
        inspect = as_user(f"podman inspect {running[0]}")
        assert inspect.returncode == 0, inspect.stderr
        assert SECRET not in inspect.stdout
        # Podman lists the secret by name, never its value.
        assert "ANTHROPIC_API_KEY" in json.dumps(json.loads(inspect.stdout)[0]["Config"].get("Secrets"))
        # Behind the proxy the sandbox holds the credential broker's placeholder, of the key's length.
        seen = as_user(f"cat {project}/seen").stdout.strip()
        assert seen != SECRET and len(seen) == len(SECRET), seen
    finally:
        checked(aishell(project, "stop", "--all"), "stopping the session")
        session.wait(timeout=60)
    # The session's secret is gone with it.
    assert "ANTHROPIC_API_KEY" not in as_user("podman secret ls --format '{{.Name}}'").stdout
    assert sandboxes(project) == []


def test_runsc_asked_of_rootless_podman_ends_with_one_message_and_starts_nothing(project):
    # provision.yml registered runsc (root's engines run it; the report says why not this user's): rootless
    # Podman cannot run it with a network (gVisor issue 7449), so a launch asking for it says so, exit 4.
    checked(as_user(f"printf 'security: {{runtime: runsc}}\\n' >> {project}/.aishell/config.yaml"), "asking for runsc")
    run = aishell(project, "exec", "--", "touch", "started")
    assert run.returncode == 4, run.stdout + run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, run.stderr
    assert "security.runtime is runsc" in errors[0] and "rootless Podman" in errors[0] and "7449" in errors[0]
    assert "Traceback" not in run.stderr
    assert as_user(f"test -e {project}/started").returncode != 0 and sandboxes(project) == []
    check = as_user(f"cd {project} && {AISHELL_RUN} check --json")  # a problem here: exit 1
    assert check.returncode == 1, check.stdout + check.stderr
    [row] = [f for f in json.loads(check.stdout) if f["what"] == "podman gVisor (runsc)"]
    assert row["ok"] is False and "rootless Podman cannot run sandboxes under runsc" in row["detail"], row


def test_a_warm_launch_asks_our_podman_service_not_the_client(project):
    """The first launch finds no Podman service for its configuration, starts one (engines/podman_api.py) and asks
    the client; the next launch's questions and its secret go to the service: the client is started only for the
    session's `run`.
    A `podman` on PATH that logs its calls and runs the real one tells (its path is part of the configuration, so
    the service is this test's own)."""
    bin_dir, log = f"{project}.bin", f"{project}.calls"
    wrapper = f'#!/bin/sh\necho "$*" >> {log}\nexec /usr/bin/podman "$@"\n'
    checked(as_user(f"mkdir -p {bin_dir} && printf %s {shlex.quote(wrapper)} > {bin_dir}/podman && "
                    f"chmod +x {bin_dir}/podman"), "making the logging podman")
    env = f"PATH={bin_dir}:$PATH"
    service = ""
    try:
        checked(aishell(project, "exec", "--", "true", env=env), "the first launch")
        calls = as_user(f"cat {log}").stdout.splitlines()
        [start] = [call for call in calls if call.startswith("system service --time=")]
        service = start.rpartition("unix://")[2]
        deadline = time.monotonic() + 60
        while as_user(f"test -S {service}").returncode and time.monotonic() < deadline:
            time.sleep(0.2)
        checked(as_user(f": > {log}"), "emptying the log")
        # A secret variable too: its Podman secret is made and removed through the service.
        run = aishell(project, "exec", "--", "sh", "-c", "echo warm; printenv ANTHROPIC_API_KEY | wc -c",
                      env=f"{env} ANTHROPIC_API_KEY={SECRET}")
        assert run.returncode == 0 and run.stdout.split() == ["warm", str(len(SECRET) + 1)], run.stdout + run.stderr
        calls = as_user(f"cat {log}").stdout.splitlines()
        assert [call.split()[0] for call in calls] == ["run"], calls
        assert "ANTHROPIC_API_KEY" not in as_user("podman secret ls --format '{{.Name}}'").stdout
    finally:
        if service:  # this test's service, by the socket only it listens on
            as_user(f"for pid in $(pgrep -u $(id -u) -f 'unix://{service}$'); do kill $pid; done")
        as_user(f"rm -rf {bin_dir} {log}")


def prefork_processes() -> tuple[list[int], dict[int, int]]:
    """The test user's prefork server and its workers (client.py, server.py): their pids, and each one's parent."""
    found = as_user("pgrep -u $(id -u) -f 'prefork[.]server'").stdout.split()
    parents = {}
    for pid in map(int, found):
        stat = as_user(f"cat /proc/{pid}/stat").stdout
        if stat:
            parents[pid] = int(stat.rsplit(")", 1)[1].split()[1])
    return [pid for pid, parent in parents.items() if parent not in parents], parents


def the_server_serves(project: str) -> int:
    """The user's server, once one serves (a launch that found none started it); its pid."""
    deadline = time.monotonic() + 60
    while True:
        checked(aishell(project, "exec", "--", "true"), "a launch")
        servers, _ = prefork_processes()
        if servers:
            return servers[0]
        assert time.monotonic() < deadline, "no prefork server started for the test user"
        time.sleep(0.5)


def test_a_launch_runs_in_a_worker_of_the_users_server_and_a_killed_client_leaves_nothing(project):
    server = the_server_serves(project)
    started = as_user(f"cd {project} && {{ {AISHELL_RUN} exec -- sleep 120 </dev/null >/dev/null 2>&1 & echo $!; }}")
    client = int(started.stdout)
    deadline = time.monotonic() + 60
    while not sandboxes(project):
        assert time.monotonic() < deadline, "the sandbox never started"
        time.sleep(0.2)
    # The engine client is a worker's child, the worker the server's: the client only waits.
    _, parents = prefork_processes()
    [worker] = [pid for pid, parent in parents.items() if parent == server]
    assert "podman" in as_user(f"ps -o comm= --ppid {worker}").stdout
    assert as_user(f"ps -o pid= --ppid {client}").stdout.split() == []
    # Its session record names the client, the process the user sees and stops.
    records = as_user("cat ~/.local/state/aishell/sessions/*.json").stdout
    assert f'"owner": {client},' in records, records
    as_user(f"kill -KILL {client}")
    deadline = time.monotonic() + 30
    while sandboxes(project) or Path(f"/proc/{worker}").exists():
        assert time.monotonic() < deadline, "the sandbox or its worker outlived the killed client"
        time.sleep(0.2)
    assert f'"owner": {client},' not in as_user("cat ~/.local/state/aishell/sessions/*.json").stdout


def test_a_terminal_session_through_the_server_takes_keys_and_follows_the_terminals_size(project):
    server = the_server_serves(project)
    uid = as_user("id -u").stdout.strip()
    command = "stty size; read line; echo got $line; stty size"
    # setpriv, not su: `su -c` gives the command a session of its own, which a terminal's signals never reach.
    # With the limits su's PAM session gives (the server was started under them; a client with others would run
    # the command itself).
    soft, hard = as_user("ulimit -Sn; ulimit -Hn").stdout.split()
    session = pexpect.spawn("prlimit", [
        f"--nofile={soft}:{hard}", "setpriv", f"--reuid={ROOTLESS_USER}", f"--regid={ROOTLESS_USER}",
        "--init-groups", "--reset-env", "sh", "-c",
        f"cd {project} && XDG_RUNTIME_DIR=/run/user/{uid} {AISHELL_RUN} exec -- sh -c {shlex.quote(command)}"],
        dimensions=(30, 90), encoding="utf-8", timeout=60)
    try:
        session.expect(r"30 90\r\n")
        _, parents = prefork_processes()
        assert server in parents.values(), "the session is not a worker's"
        session.setwinsize(40, 120)  # the kernel signals the terminal's foreground: the client, which forwards it
        time.sleep(1)
        session.sendline("hello")
        session.expect(r"got hello\r\n")
        session.expect(r"40 120\r\n")
        session.expect(pexpect.EOF)
    finally:
        session.close()
    assert session.exitstatus == 0
    assert sandboxes(project) == []
