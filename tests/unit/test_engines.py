"""The engines' own arguments: Podman secrets, limits and the private home (a stand-in `podman` records calls)."""

import os
import stat
from pathlib import Path

import pytest

from aishell_runner.engines import unavailable
from aishell_runner.engines.base import Identity
from aishell_runner.engines.docker import Docker
from aishell_runner.engines.podman import LOADER, Podman

OPTIONS = ["podman", "run", "--name", "s1", "--env", "ANTHROPIC_API_KEY", "--env", "TERM", "--workdir", "/p"]
COMMAND = ["sh", "-c", "--env ANTHROPIC_API_KEY"]


@pytest.fixture
def fake_podman(tmp_path, monkeypatch):
    """A `podman` that logs its arguments (and the value it was asked to store) and succeeds."""
    log = tmp_path / "calls"
    script = tmp_path / "podman"
    script.write_text(f'#!/bin/sh\necho "$* ${{ANTHROPIC_API_KEY:-}}" >> {log}\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    return log


def test_secret_variables_become_podman_secrets_in_the_options_only(fake_podman):
    podman = Podman()
    env = {**os.environ, "ANTHROPIC_API_KEY": "sk-value", "TERM": "xterm"}  # as client_env() makes it
    options, command = podman.pass_secrets(OPTIONS, COMMAND, "s1", ["ANTHROPIC_API_KEY"], env)
    secret = "s1-ANTHROPIC_API_KEY,type=mount,target=aishell-env-ANTHROPIC_API_KEY"
    assert options[options.index(secret) - 1] == "--secret"
    assert options.count("--env") == 1  # TERM stays an --env; the key does not
    assert command == [*LOADER, *COMMAND]  # the command itself is untouched
    assert "sk-value" not in " ".join(options + command)
    assert fake_podman.read_text().splitlines() == ["secret create --env=true s1-ANTHROPIC_API_KEY ANTHROPIC_API_KEY "
                                                    "sk-value"]
    podman.forget_secrets("s1")
    assert fake_podman.read_text().splitlines()[-1].startswith("secret rm s1-ANTHROPIC_API_KEY")


def test_no_secret_no_loader(fake_podman):
    env = {key: value for key, value in os.environ.items() if key != "ANTHROPIC_API_KEY"}
    assert Podman().pass_secrets(OPTIONS, COMMAND, "s1", ["ANTHROPIC_API_KEY"], env) == (OPTIONS, COMMAND)
    assert not fake_podman.exists()


def test_docker_passes_names_as_they_are():
    assert Docker().pass_secrets(OPTIONS, COMMAND, "s1", ["ANTHROPIC_API_KEY"], {"ANTHROPIC_API_KEY": "x"}) == \
        (OPTIONS, COMMAND)


def test_the_private_home_is_given_to_the_user_the_way_each_engine_accepts():
    identity = Identity(uid=1000, gid=1000, user="me", home="/home/me")
    assert Docker().owned_tmpfs(identity) == "uid=1000,gid=1000"
    assert Podman().owned_tmpfs(identity) == "U"  # Podman refuses uid=/gid= on --tmpfs


def test_limits_in_each_engines_form(monkeypatch):
    resources = {"cpus": 2, "memory": "1g", "pids": 100}
    assert Docker().limit_args(resources) == ["--cpus", "2", "--memory", "1g", "--pids-limit", "100"]
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(os.path, "exists", lambda path: path != "/sys/fs/cgroup/cgroup.controllers")
    assert Podman().limit_args(resources) == ["--ulimit", "nproc=100:100"]  # rootless on cgroup v1
    monkeypatch.setattr("sys.platform", "darwin")  # the Mac has no /sys/fs/cgroup: Lima's VM has cgroup v2
    assert Podman().limit_args(resources) == Docker().limit_args(resources)
    monkeypatch.setattr("sys.platform", "linux")
    monkeypatch.setattr(os.path, "exists", lambda path: True)
    assert Podman().limit_args(resources) == Docker().limit_args(resources)  # cgroup v2


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
