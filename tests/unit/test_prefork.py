"""The prefork server and its client (aishell_runner/prefork/): real processes, a real socket, real commands.

Each test has a private runtime directory of its own, so its own server; the commands run are ones that start no
engine (`--version`, `settings`). The sandbox launch through a server, its terminal and its signals are proven in
the rootless lane (tests/integration/test_sandbox_rootless_podman.py), where the test user has a runtime directory.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aishell_runner.prefork import client

AISHELL_RUN = str(Path(sys.executable).parent / "aishell-run")
# The client as the console script runs it, saying afterwards whether the command's modules came into this
# process (it ran the command itself) or not (a worker of the server ran it).
PROBE = """
import os, signal, sys
if os.environ.get("PROBE_IGNORES_SIGINT"):  # as a background job's command
    signal.signal(signal.SIGINT, signal.SIG_IGN)
else:  # as a terminal's command, whatever this test run's own disposition (a background job's ignores SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
from aishell_runner.prefork.client import main
sys.argv = ["aishell-run", *sys.argv[1:]]
status = main()
print("ran here" if "aishell_runner.cli" in sys.modules else "ran by the server", file=sys.stderr)
sys.exit(status)
"""


@pytest.fixture
def runtime(tmp_path):
    directory = tmp_path / "runtime"
    directory.mkdir(mode=0o700)
    yield directory
    for pid in server_pids(directory):
        os.kill(pid, signal.SIGTERM)


def server_pids(runtime: Path) -> list[int]:
    found = subprocess.run(["pgrep", "-f", f"prefork.server.*{runtime}"], capture_output=True, text=True)
    return [int(pid) for pid in found.stdout.split()]


def server_and_workers(runtime: Path) -> tuple[list[int], list[int]]:
    """The server's process, and its workers' (forked from it, they carry its command line)."""
    pids = server_pids(runtime)
    parents = {pid: int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]) for pid in pids}
    return [pid for pid in pids if parents[pid] not in pids], [pid for pid in pids if parents[pid] in pids]


def environment(runtime: Path, **env: str) -> dict[str, str]:
    """This process's environment with `runtime` as the runtime directory, and the server on (tests/conftest.py
    turns it off for root's other tests)."""
    return {**os.environ, "AISHELL_RUN_SERVER": "on", "XDG_RUNTIME_DIR": str(runtime), **env}


def run(runtime: Path, *argv: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, cwd=cwd or "/",
                          env=environment(runtime, **env))


def ran(result: subprocess.CompletedProcess) -> str:
    return result.stderr.splitlines()[-1]


def serving(runtime: Path, **env: str) -> Path:
    """The socket of the server that a command started (the first one starts it), once it serves."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if ran(run(runtime, "--version", **env)) == "ran by the server":
            return next((runtime / "aishell").glob("server-*.sock"))
        time.sleep(0.2)
    raise AssertionError(f"no server answered in {runtime}")


def test_the_first_command_runs_itself_and_starts_the_server_the_next_one_uses(runtime):
    first = run(runtime, "--version")
    assert (first.returncode, first.stdout, ran(first)) == (0, "aishell-run 0.1.0\n", "ran here")
    serving(runtime)
    second = run(runtime, "--version")
    assert (second.returncode, second.stdout, ran(second)) == (0, "aishell-run 0.1.0\n", "ran by the server")
    assert len(server_pids(runtime)) == 1
    assert oct((runtime / "aishell").stat().st_mode & 0o777) == "0o700"


def test_a_worker_has_the_clients_directory_environment_streams_and_status(runtime, tmp_path):
    serving(runtime)
    project = tmp_path / "project"
    (project / ".aishell").mkdir(parents=True)
    (project / ".aishell" / "config.yaml").write_text("network: {mode: none}\n")
    config = tmp_path / "config"
    (config / "aishell").mkdir(parents=True)
    (config / "aishell" / "config.yaml").write_text("resources: {pids: 123}\n")
    env = {"XDG_CONFIG_HOME": str(config), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    here = run(runtime, "settings", "--json", cwd=project, AISHELL_RUN_SERVER="off", **env)
    served = run(runtime, "settings", "--json", cwd=project, **env)
    assert (ran(here), ran(served)) == ("ran here", "ran by the server")
    assert (served.returncode, served.stdout) == (here.returncode, here.stdout) == (0, here.stdout)
    settings = {row["key"]: (row["value"], row["from"]) for row in json.loads(served.stdout)}
    assert settings["network.mode"] == ("none", f"{project}/.aishell/config.yaml:1")  # found from its directory
    assert settings["resources.pids"] == (123, f"{config}/aishell/config.yaml:1")  # and its environment
    refused = run(runtime, "settings", "--project", str(tmp_path / "nowhere"), cwd=project, **env)
    assert ran(refused) == "ran by the server"
    assert refused.returncode == 2 and "nowhere" in refused.stderr and "Traceback" not in refused.stderr


def test_a_changed_module_ends_the_server_and_the_command_runs_itself(runtime):
    serving(runtime)
    old = server_pids(runtime)
    module = Path(client.__file__).with_name("server.py")
    os.utime(module)  # as an upgrade or an edit leaves it: a worker must not run the old code
    result = run(runtime, "--version")
    assert (result.returncode, ran(result)) == (0, "ran here")
    deadline = time.monotonic() + 30
    while set(server_pids(runtime)) & set(old):
        assert time.monotonic() < deadline, "the stale server did not exit"
        time.sleep(0.1)
    serving(runtime)  # the client started a new one


def test_a_process_with_other_limits_runs_the_command_itself(runtime):
    serving(runtime)
    lower = subprocess.run(["prlimit", "--nofile=512:512", sys.executable, "-c", PROBE, "--version"],
                           capture_output=True, text=True, cwd="/", env=environment(runtime))
    assert (lower.returncode, ran(lower)) == (0, "ran here")


@pytest.mark.parametrize("mode", [0o750, 0o700])
def test_no_server_in_a_runtime_directory_that_is_not_private_or_not_ones_own(tmp_path, monkeypatch, mode):
    directory = tmp_path / "runtime"
    directory.mkdir(mode=mode)
    os.chmod(directory, mode)
    if mode == 0o700:
        os.chown(directory, 65534, 65534)  # nobody's
    monkeypatch.setenv("AISHELL_RUN_SERVER", "on")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(directory))
    assert client.socket_path() is None
    result = run(directory, "--version")
    assert (result.returncode, ran(result)) == (0, "ran here")
    assert not (directory / "aishell").exists()


def test_without_a_runtime_directory_the_server_is_in_a_private_directory_in_tmp(tmp_path, monkeypatch):
    """Root under sudo, a container, WSL without systemd: no $XDG_RUNTIME_DIR, and the server still runs."""
    monkeypatch.setenv("AISHELL_RUN_SERVER", "on")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    directory = tmp_path / f"aishell-{os.getuid()}"
    assert Path(client.socket_path()).parent == directory
    assert oct(directory.stat().st_mode & 0o777) == "0o700"

    def version() -> str:
        return ran(subprocess.run([sys.executable, "-c", PROBE, "--version"], capture_output=True, text=True,
                                  cwd="/", env=dict(os.environ)))

    try:
        assert version() == "ran here"  # and it started the server
        deadline = time.monotonic() + 30
        while version() != "ran by the server":
            assert time.monotonic() < deadline, "no server answered"
            time.sleep(0.2)
    finally:
        for pid in server_pids(directory):
            os.kill(pid, signal.SIGTERM)


@pytest.mark.parametrize("made_first", ["by nobody", "readable by the group", "a link to a private one"])
def test_no_server_in_tmp_where_the_directory_is_not_ones_own_and_private(tmp_path, monkeypatch, made_first):
    """A shared /tmp: another user can make the directory first. Then no server, never a socket of theirs."""
    monkeypatch.setenv("AISHELL_RUN_SERVER", "on")
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    directory = tmp_path / f"aishell-{os.getuid()}"
    if made_first == "a link to a private one":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        directory.symlink_to(tmp_path / "elsewhere")
    else:
        directory.mkdir(mode=0o700)
        if made_first == "by nobody":
            os.chown(directory, 65534, 65534)
        else:
            os.chmod(directory, 0o750)
    assert client.socket_path() is None
    result = subprocess.run([sys.executable, "-c", PROBE, "--version"], capture_output=True, text=True, cwd="/",
                            env=dict(os.environ))
    assert (result.returncode, ran(result)) == (0, "ran here")
    assert list(directory.iterdir()) == []


def test_another_users_connection_gets_nothing(runtime):
    path = serving(runtime)
    os.chmod(path.parent, 0o711)
    os.chmod(path, 0o777)
    # Root opens the directory, then becomes nobody and connects through it (the test's own parent directories
    # are root's alone), sending a request well made but for its credentials: the server sees nobody's.
    probe = """
import marshal, os, socket, sys
sys.path.insert(0, sys.argv[2])
import resource
from aishell_runner.prefork import client
here = os.open(os.path.dirname(sys.argv[1]), os.O_PATH)
os.setgid(65534)
os.setuid(65534)
request = marshal.dumps((["--version"], {}, 0o022, client.identity(), (("utf-8", "strict"),) * 3))
connection = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
connection.settimeout(5)
connection.connect(f"/proc/self/fd/{here}/{os.path.basename(sys.argv[1])}")
try:
    connection.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, b"".join(
        fd.to_bytes(4, sys.byteorder) for fd in (0, 1, 2, here)))])
    answer = connection.recv(16)
except (BrokenPipeError, ConnectionResetError):
    answer = b""
print(os.getuid(), repr(answer))
"""
    other = subprocess.run([sys.executable, "-I", "-S", "-c", probe, str(path), str(Path(client.PACKAGE).parent)],
                           capture_output=True, text=True)
    assert (other.returncode, other.stdout) == (0, "65534 b''\n"), other.stderr  # closed without a word
    assert ran(run(runtime, "--version")) == "ran by the server"  # and the server serves on


def blocked_command(runtime: Path, tmp_path: Path, **env: str) -> subprocess.Popen:
    """`settings` on a project whose settings file is a fifo, run through the server: its worker blocks reading it
    until it is stopped. Returned once the worker has begun."""
    project = tmp_path / "project"
    (project / ".aishell").mkdir(parents=True)
    os.mkfifo(project / ".aishell" / "config.yaml")
    waiting = subprocess.Popen([sys.executable, "-c", PROBE, "settings", "--json"], cwd=project,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=environment(runtime, XDG_CACHE_HOME=str(tmp_path / "cache"), **env))
    deadline = time.monotonic() + 30
    while not server_and_workers(runtime)[1]:
        assert time.monotonic() < deadline, "no worker started"
        time.sleep(0.1)
    time.sleep(1)  # the client has sent its `go`, and the worker is in the read
    assert waiting.poll() is None
    return waiting


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_a_signal_to_the_client_reaches_the_command_and_its_status_is_the_signals(runtime, tmp_path, signum):
    serving(runtime, PROBE_IGNORES_SIGINT="1")  # a server started from a background job: it ignores SIGINT
    waiting = blocked_command(runtime, tmp_path)  # a terminal's client: its worker does not
    waiting.send_signal(signum)
    _, stderr = waiting.communicate(timeout=30)
    assert (waiting.returncode, stderr.splitlines()[-1]) == (128 + signum, "ran by the server")


def test_a_signal_the_client_ignores_the_worker_ignores_too(runtime, tmp_path):
    """The test above the other way round: the client's dispositions are the worker's, whatever the server's."""
    serving(runtime)
    waiting = blocked_command(runtime, tmp_path, PROBE_IGNORES_SIGINT="1")
    waiting.send_signal(signal.SIGINT)
    time.sleep(1)
    assert waiting.poll() is None  # ignored, as it would have been without the server
    waiting.send_signal(signal.SIGTERM)
    _, stderr = waiting.communicate(timeout=30)
    assert (waiting.returncode, stderr.splitlines()[-1]) == (128 + signal.SIGTERM, "ran by the server")


def test_a_client_that_is_killed_takes_its_worker_with_it(runtime, tmp_path):
    serving(runtime)
    project = tmp_path / "project"
    (project / ".aishell").mkdir(parents=True)
    os.mkfifo(project / ".aishell" / "config.yaml")
    waiting = subprocess.Popen([sys.executable, "-c", PROBE, "settings"], cwd=project, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL,
                               env=environment(runtime, XDG_CACHE_HOME=str(tmp_path / "cache")))
    deadline = time.monotonic() + 30
    while not (workers := server_and_workers(runtime)[1]):
        assert time.monotonic() < deadline, "no worker started"
        time.sleep(0.1)
    waiting.kill()
    waiting.wait()
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in workers):
        assert time.monotonic() < deadline, "the worker outlived its client"
        time.sleep(0.1)


def test_a_killed_server_leaves_its_socket_and_the_next_command_runs_itself_and_starts_another(runtime):
    serving(runtime)
    [server], _ = server_and_workers(runtime)
    os.kill(server, signal.SIGKILL)
    while Path(f"/proc/{server}").exists() and Path(f"/proc/{server}/stat").read_text().split()[2] != "Z":
        time.sleep(0.05)
    assert list((runtime / "aishell").glob("server-*.sock"))  # left behind: nobody listens on it
    result = run(runtime, "--version")
    assert (result.returncode, result.stdout, ran(result)) == (0, "aishell-run 0.1.0\n", "ran here")
    serving(runtime)


def test_a_malformed_request_is_dropped_and_the_server_serves_on(runtime):
    path = serving(runtime)
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as connection:
        connection.settimeout(5)
        connection.connect(str(path))
        connection.send(b"not marshal at all")
        assert connection.recv(16) == b""
    assert ran(run(runtime, "--version")) == "ran by the server"
