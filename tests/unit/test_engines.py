"""The engines' own parts: Podman secrets, limits and the private home (a stand-in `podman` records calls)."""

import os
import stat
from pathlib import Path

import pytest

from aishell_runner.engines import unavailable
from aishell_runner.engines.docker import Docker
from aishell_runner.engines.podman import LOADER, Podman
from aishell_runner.errors import AishellError
from tests.unit.test_plan import launch_options, plan_for

NAMES = ["ANTHROPIC_API_KEY", "TERM"]


@pytest.fixture
def fake_podman(tmp_path, monkeypatch):
    """A `podman` that logs its arguments (and the value it was asked to store) and succeeds."""
    log = tmp_path / "calls"
    script = tmp_path / "podman"
    script.write_text(f'#!/bin/sh\necho "$* ${{ANTHROPIC_API_KEY:-}}" >> {log}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    return log


def test_secret_variables_become_podman_secrets_and_the_rest_stay_names(fake_podman):
    podman = Podman()
    env = {**os.environ, "ANTHROPIC_API_KEY": "sk-value", "TERM": "xterm"}  # as client_env() makes it
    options, receive = podman.pass_env(NAMES, ["ANTHROPIC_API_KEY"], "s1", env)
    secret = "s1-ANTHROPIC_API_KEY,type=mount,target=aishell-env-ANTHROPIC_API_KEY"
    assert options == ["--env", "TERM", "--secret", secret]
    assert receive == LOADER  # exports the mounted secret before the command
    assert "sk-value" not in " ".join(options + receive)
    assert fake_podman.read_text().splitlines() == ["secret create --env=true s1-ANTHROPIC_API_KEY ANTHROPIC_API_KEY "
                                                    "sk-value"]
    podman.forget_secrets("s1")
    assert fake_podman.read_text().splitlines()[-1].startswith("secret rm s1-ANTHROPIC_API_KEY")


def test_no_secret_no_loader(fake_podman):
    env = {key: value for key, value in os.environ.items() if key != "ANTHROPIC_API_KEY"}
    assert Podman().pass_env(NAMES, ["ANTHROPIC_API_KEY"], "s1", env) == (["--env", "ANTHROPIC_API_KEY", "--env",
                                                                             "TERM"], [])
    assert not fake_podman.exists()


def test_docker_passes_names_as_they_are():
    assert Docker().pass_env(NAMES, ["ANTHROPIC_API_KEY"], "s1", {"ANTHROPIC_API_KEY": "x"}) == \
        (["--env", "ANTHROPIC_API_KEY", "--env", "TERM"], [])


def test_the_private_home_is_given_to_the_user_the_way_each_engine_accepts(tmp_path):
    home = plan_for(tmp_path).home
    docker = launch_options(plan_for(tmp_path))
    assert docker[docker.index("--tmpfs") + 1].startswith(f"{home}:rw,exec,uid={os.getuid()},gid={os.getgid()},")
    podman = launch_options(plan_for(tmp_path, engine=Podman()))
    assert podman[podman.index("--tmpfs") + 1] == f"{home}:rw,exec,U,mode=0700"  # Podman refuses uid=/gid=


def test_limits_in_each_engines_form(tmp_path, monkeypatch):
    resources = {"cpus": 2, "memory": "1g", "pids": 100}
    cgroup = ["--cpus", "2", "--memory", "1g", "--pids-limit", "100"]

    def limits(engine):
        options = launch_options(plan_for(tmp_path, engine=engine, resources=resources))
        start = options.index("--cpus") if "--cpus" in options else options.index("--ulimit")
        return options[start:start + (6 if "--cpus" in options else 2)]

    assert limits(Docker()) == cgroup
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(os.path, "exists", lambda path: path != "/sys/fs/cgroup/cgroup.controllers")
    assert limits(Podman()) == ["--ulimit", "nproc=100:100"]  # rootless on cgroup v1
    monkeypatch.setattr("sys.platform", "darwin")  # the Mac has no /sys/fs/cgroup: Lima's VM has cgroup v2
    assert limits(Podman()) == cgroup
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setattr(os.path, "exists", lambda path: True)
    assert limits(Podman()) == cgroup  # cgroup v2


def test_rootless_podman_keeps_the_users_id_and_docker_names_it(tmp_path, monkeypatch):
    assert "--userns=keep-id" not in launch_options(plan_for(tmp_path))
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    options = launch_options(plan_for(tmp_path, engine=Podman()))
    assert options[options.index("--userns=keep-id") + 1:][:2] == ["--user", f"{os.getuid()}:{os.getgid()}"]


def test_an_engine_that_does_not_answer_is_reported_with_its_own_reason_and_fix(tmp_path, monkeypatch):
    """Podman's words (recorded here) when its pause process is gone but /run/user/UID is not."""
    podman = tmp_path / "podman"
    recorded = Path(__file__).parents[1] / "fixtures" / "podman-info-lost-pause-process.stderr"
    podman.write_text(f"#!/bin/sh\ncat {recorded} >&2\nexit 125\n")
    podman.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    error = unavailable("podman")
    assert error.exit_code == 4
    assert error.message == ('podman does not answer on this machine (invalid internal status, try resetting the '
                             'pause process with "podman system migrate": could not find any running process: '
                             'no such process)')
    assert error.hint.startswith("run `podman system migrate`")
    podman.write_text("#!/bin/sh\necho 'Cannot connect to Podman.' >&2\nexit 125\n")
    assert unavailable("podman").message.endswith("(Cannot connect to Podman.)")
    assert "bootstrap" in unavailable("podman").hint
    assert unavailable("Docker or Podman").message == "Docker or Podman does not answer on this machine"


def test_every_engine_call_names_an_engine_that_is_missing_or_hangs(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AishellError, match="podman is not installed") as missing:
        Podman().images_present("img")
    assert missing.value.exit_code == 4 and "bootstrap" in missing.value.hint
    (tmp_path / "docker").write_text("#!/bin/sh\nexec sleep 30\n")
    (tmp_path / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}/usr/bin:/bin")
    with pytest.raises(AishellError, match=r"docker did not answer `docker ps --all --format \.\.\.` within 0\.5 s"):
        Docker().run("ps", "--all", "--format", "{{json .}}", timeout=0.5)


def test_the_images_the_engine_has_are_told_from_those_it_lacks(tmp_path, monkeypatch):
    # As Docker and Podman answer an inspect of several images: a line for each one found, whatever the order
    # asked, an error for each one missing.
    (tmp_path / "docker").write_text(
        '#!/bin/sh\necho \'["localhost/b:1","b:latest"]\'\necho \'null\'\necho \'["localhost/a:1"]\'\n'
        'echo "Error: No such image: localhost/nothing:1" >&2\nexit 1\n')
    (tmp_path / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-daemon.sock")  # the client is asked, not a socket
    assert Docker().images_present("localhost/nothing:1", "localhost/a:1", "localhost/b:1") == {
        "localhost/a:1", "localhost/b:1"}


def _daemon_socket(tmp_path, answer: bytes | None) -> str:
    """A Unix socket that takes one connection and answers `answer` (None: never answers)."""
    import socket
    import threading

    path = str(tmp_path / "daemon.sock")
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen()

    def serve():
        connection, _ = server.accept()
        connection.recv(4096)
        if answer is not None:
            connection.sendall(answer)
            connection.close()
        else:
            threading.Event().wait(5)

    threading.Thread(target=serve, daemon=True).start()
    return path


def test_a_socket_that_is_not_the_daemon_leaves_the_question_to_the_client(tmp_path, monkeypatch):
    (tmp_path / "docker").write_text("#!/bin/sh\necho '[\"localhost/a:1\"]'\n")
    (tmp_path / "docker").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DOCKER_HOST", "unix://" + _daemon_socket(tmp_path, b"SSH-2.0-not-http\r\n"))
    assert Docker().images_present("localhost/a:1") == {"localhost/a:1"}


def test_a_daemon_that_does_not_answer_on_its_socket_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix://" + _daemon_socket(tmp_path, None))
    monkeypatch.setattr("aishell_runner.engines.base.ENGINE_TIMEOUT", 0.5)
    with pytest.raises(AishellError, match="docker did not answer `docker image inspect localhost/a:1") as hung:
        Docker().images_present("localhost/a:1")
    assert hung.value.exit_code == 4
