"""Podman's inspect answers from our own `podman system service` (engines/podman_api.py): real sockets and processes.

A stand-in `podman` on PATH logs its calls; asked for `system service`, it serves a small HTTP stand-in on the
socket (tests/unit/podman_standin.py), as Podman's service would. The last test starts the real service where
Podman runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from aishell_runner.engines import podman_api, unix_http
from aishell_runner.engines.base import Engine
from aishell_runner.engines.podman import Podman
from aishell_runner.errors import AishellError

STANDIN = Path(__file__).with_name("podman_standin.py")


@pytest.fixture
def podman(tmp_path, monkeypatch):
    """A stand-in `podman` and a runtime directory of this test's own; yields the calls' log."""
    log = tmp_path / "calls"
    script = tmp_path / "bin" / "podman"
    script.parent.mkdir()
    script.write_text(
        f'#!/bin/sh\necho "$*" >> {log}\n'
        f'if [ "$1 $2" = "system service" ]; then exec {sys.executable} {STANDIN} "$4" {tmp_path}/service.json; fi\n'
        "exit 1\n")  # the client knows nothing: what a launch gets from it is what it got from the socket
    script.chmod(0o755)
    runtime = _runtime_directory()
    for name in ("CONTAINER_HOST", "CONTAINER_CONNECTION", "CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-not-for-the-service")
    yield log
    _stop_services(tmp_path)
    shutil.rmtree(runtime)


def _runtime_directory() -> Path:
    """A runtime directory of the test's own, with a short path: a socket's path has at most 107 bytes."""
    return Path(tempfile.mkdtemp(prefix="aishell-test-run-"))


def _stop_services(tmp_path: Path) -> None:
    """End the stand-in services this test started, by the process ids they recorded."""
    for record in tmp_path.glob("service*.json"):
        pid = json.loads(record.read_text())["pid"]
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)


def _calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def _wait_for(condition, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def _answers(path: str) -> bool:
    try:
        return unix_http.get(path, "/_ping", 2)[0] == 200
    except (OSError, ValueError):
        return False


def _locked(path: str) -> bool:
    """Whether somebody holds the service's lock (a service lives)."""
    descriptor = os.open(path.removesuffix(".sock") + ".lock", os.O_RDWR)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(descriptor)


def test_the_first_call_asks_the_client_and_starts_the_service_the_next_asks_the_service(podman, tmp_path):
    path = podman_api.socket_path()
    assert path and path.startswith(f"{os.environ['XDG_RUNTIME_DIR']}/aishell-podman/")
    assert Podman().inspect("container", "proxy") is None  # the client's answer: it knows nothing
    assert sorted(_calls(podman)) == [  # the service starts beside the client's answer
        "container inspect proxy", f"system service --time={podman_api.IDLE_SECONDS} unix://{path}"]
    _wait_for(lambda: _answers(path))
    documents = Podman().inspect("container", "proxy", "broker")
    assert [document["Name"] for document in documents] == ["proxy", "broker"]
    assert Podman().images_present("localhost/a:1", "localhost/missing:1") == {"localhost/a:1"}
    assert Podman().inspect("container", "proxy", "missing") is None  # one of them missing, as the client says
    assert len(_calls(podman)) == 2  # no client since

    service = json.loads((tmp_path / "service.json").read_text())
    # Detached: its own session, at /, with Podman's variables and none of the user's credentials.
    assert service["sid"] != os.getsid(0) and service["cwd"] == "/"
    assert "ANTHROPIC_API_KEY" not in service["env"]
    assert service["env"]["XDG_RUNTIME_DIR"] == os.environ["XDG_RUNTIME_DIR"]
    assert os.stat(os.path.dirname(path)).st_mode & 0o777 == 0o700


def test_secret_variables_are_stored_and_removed_through_the_service(podman):
    path = podman_api.socket_path()
    Podman().inspect("container", "proxy")  # starts the service
    _wait_for(lambda: _answers(path))
    env = {"ANTHROPIC_API_KEY": "sk-ant-é-secret", "TERM": "xterm", "PATH": os.environ["PATH"]}
    podman_engine = Podman()
    options, receive = podman_engine.pass_env(["ANTHROPIC_API_KEY", "TERM"], ["ANTHROPIC_API_KEY"], "s1", env)
    assert options == ["--env", "TERM",
                       "--secret", "s1-ANTHROPIC_API_KEY,type=mount,target=aishell-env-ANTHROPIC_API_KEY"]
    assert receive
    stored = unix_http.get(path, "/v4.0.0/libpod/secrets/s1-ANTHROPIC_API_KEY/json", 5)
    assert stored[0] == 200 and json.loads(stored[1])["Value"] == "sk-ant-é-secret"
    podman_engine.forget_secrets("s1")
    assert unix_http.get(path, "/v4.0.0/libpod/secrets/s1-ANTHROPIC_API_KEY/json", 5)[0] == 404
    assert len(_calls(podman)) == 2  # the first inspect and the service's start: no client for the secrets


def test_a_secret_the_service_does_not_store_goes_to_the_client_and_its_refusal_is_shown(podman):
    path = podman_api.socket_path()
    os.makedirs(os.path.dirname(path), mode=0o700)
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen()

    def refuse():
        while True:
            connection, _ = server.accept()
            connection.recv(65536)
            connection.sendall(b"HTTP/1.0 500 Internal Server Error\r\n\r\n{}")
            connection.close()

    threading.Thread(target=refuse, daemon=True).start()
    with pytest.raises(AishellError, match="podman could not store ANTHROPIC_API_KEY as a secret"):
        Podman().pass_env(["ANTHROPIC_API_KEY"], ["ANTHROPIC_API_KEY"], "s2",
                          {"ANTHROPIC_API_KEY": "k", "PATH": os.environ["PATH"]})  # the stand-in client's PATH
    # The client was asked to store it, and to remove what it may have stored.
    assert _calls(podman) == ["secret create --env=true s2-ANTHROPIC_API_KEY ANTHROPIC_API_KEY",
                              "secret rm s2-ANTHROPIC_API_KEY"]


def test_one_service_at_a_time_and_a_dead_ones_socket_is_replaced(podman, tmp_path):
    path = podman_api.socket_path()
    calls = []
    threads = [threading.Thread(target=lambda: calls.append(Podman().inspect("container", "proxy")))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    _wait_for(lambda: _answers(path))
    assert [call for call in _calls(podman) if call.startswith("system service")] == [
        f"system service --time={podman_api.IDLE_SECONDS} unix://{path}"]  # the lock let one start it
    assert _locked(path)

    os.kill(json.loads((tmp_path / "service.json").read_text())["pid"], 9)  # killed: its socket file stays
    _wait_for(lambda: not _locked(path))
    assert os.path.exists(path) and not _answers(path)
    assert Podman().inspect("container", "proxy") is None  # refused: the client answers, a new service starts
    _wait_for(lambda: _answers(path))
    assert [document["Name"] for document in Podman().inspect("container", "proxy")] == ["proxy"]


def test_a_service_that_does_not_answer_is_named_and_a_wrong_answer_goes_to_the_client(podman, tmp_path,
                                                                                       monkeypatch):
    path = podman_api.socket_path()
    os.makedirs(os.path.dirname(path), mode=0o700)
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen()
    answer: list[bytes | None] = [None]

    def serve():
        while True:
            connection, _ = server.accept()
            connection.recv(4096)
            if answer[0] is not None:
                connection.sendall(answer[0])
                connection.close()

    threading.Thread(target=serve, daemon=True).start()
    monkeypatch.setattr("aishell_runner.engines.base.ENGINE_TIMEOUT", 0.5)
    with pytest.raises(AishellError, match="podman did not answer `podman image inspect localhost/a:1") as hung:
        Podman().images_present("localhost/a:1")
    assert hung.value.exit_code == 4 and _calls(podman) == []
    wrong_answers = (b"HTTP/1.0 500 Internal Server Error\r\n\r\n{}", b"SSH-2.0-not-http\r\n",
                     b"HTTP/1.0 200 OK\r\n\r\n[]")
    for wrong in wrong_answers:
        answer[0] = wrong
        assert Podman().inspect("container", "proxy") is None
    assert _calls(podman) == ["container inspect proxy"] * 3  # the client each time, and no service started


def test_the_socket_is_named_for_the_configuration_and_remote_podman_keeps_its_client(podman, tmp_path,
                                                                                       monkeypatch):
    first = podman_api.socket_path()
    assert podman_api.socket_path() == first
    storage = tmp_path / "config" / "containers" / "storage.conf"
    storage.parent.mkdir(parents=True)
    storage.write_text('[storage]\ndriver = "overlay"\n')  # the user's storage changed
    second = podman_api.socket_path()
    (storage.parent / "containers.conf.d").mkdir()
    (storage.parent / "containers.conf.d" / "60-mine.conf").write_text("[engine]\n")
    third = podman_api.socket_path()
    monkeypatch.setenv("CONTAINERS_CONF", str(tmp_path / "other.conf"))
    fourth = podman_api.socket_path()
    monkeypatch.delenv("CONTAINERS_CONF")
    other = tmp_path / "other-bin"
    other.mkdir()
    shutil.copy(tmp_path / "bin" / "podman", other / "podman")  # another podman (an upgrade, another install)
    monkeypatch.setenv("PATH", f"{other}{os.pathsep}{os.environ['PATH']}")
    fifth = podman_api.socket_path()
    assert len({first, second, third, fourth, fifth}) == 5
    # The storage made anew (`podman system reset`): a service that opened the old one would answer from it.
    store = tmp_path / "store"
    store.mkdir()
    named = tmp_path / "named-storage.conf"
    named.write_text(f'[storage]\ndriver = "overlay"\ngraphroot = "{store}"  # ours\n')
    monkeypatch.setenv("CONTAINERS_STORAGE_CONF", str(named))
    before_reset = podman_api.socket_path()
    store.rmdir()
    store.mkdir()
    assert podman_api.socket_path() != before_reset
    monkeypatch.delenv("CONTAINERS_STORAGE_CONF")
    # Another home for the user's files, none of Podman's in it: the same configuration, the same service.
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "other-config"))
    sixth = podman_api.socket_path()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "yet-another-config"))
    assert podman_api.socket_path() == sixth != fifth
    # Homes whose `containers` links to one folder (each of CI's test sandboxes has its own home): one service.
    for home in ("linked-config", "other-linked-config"):
        (tmp_path / home).mkdir()
        (tmp_path / home / "containers").symlink_to(storage.parent)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "linked-config"))
    linked = podman_api.socket_path()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "other-linked-config"))
    assert podman_api.socket_path() == linked != sixth
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert podman_api.socket_path() == linked  # the folder itself
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))

    (storage.parent / "containers.conf").write_text("[engine]\n  remote = true\n")
    assert podman_api.socket_path() is None and Podman().inspect("container", "proxy") is None
    (storage.parent / "containers.conf").write_text("[engine]\n# remote = true\n")
    assert podman_api.socket_path() is not None
    for name in ("CONTAINER_HOST", "CONTAINER_CONNECTION"):
        monkeypatch.setenv(name, "unix:///run/elsewhere.sock")
        assert podman_api.socket_path() is None
        monkeypatch.delenv(name)
    assert not any(call.startswith("system service") for call in _calls(podman))


def test_a_runtime_directory_that_is_not_the_users_is_not_used(podman, tmp_path, monkeypatch):
    if os.geteuid() != 0:
        pytest.skip("needs root to give the directory away")
    foreign = tmp_path / "foreign"
    foreign.mkdir(mode=0o700)
    os.chown(foreign, 1, 1)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(foreign))
    assert podman_api.socket_path() is None
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "missing"))
    assert podman_api.socket_path() is None  # missing


@pytest.mark.skipif(shutil.which("podman") is None, reason="no Podman here")
def test_the_real_service_answers_as_the_client_does_and_exits_when_idle(tmp_path, monkeypatch):
    """As root here (the unit lane's user): root's Podman, a service in a runtime directory of the test's own."""
    client = Podman().run("images", "--format", "{{.Repository}}:{{.Tag}}")
    images = [name for name in client.stdout.split() if not name.startswith("<none>")][:2]
    if client.returncode != 0 or not images:
        pytest.skip("Podman has no images here")
    runtime = _runtime_directory()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    monkeypatch.setattr(podman_api, "IDLE_SECONDS", 3)
    path = podman_api.socket_path()
    podman = Podman()
    try:
        by_client = Engine.inspect(podman, "image", *images)
        assert podman.inspect("image", *images) == by_client  # the client's, while the service starts
        _wait_for(lambda: _answers(path), 30)
        by_socket = podman.from_service("image", tuple(images))
        assert [by_socket[name]["Id"] for name in images] == [document["Id"] for document in by_client]
        assert [by_socket[name]["Config"].get("Labels") for name in images] == [
            document["Config"].get("Labels") for document in by_client]
        assert podman.from_service("image", ("localhost/aishell-no-such-image:1",)) == {}
        asked = (*images, "localhost/aishell-no-such-image:1")
        assert podman.images_present(*asked) == Engine.images_present(podman, *asked) == set(images)
        assert podman.from_service("image present", asked) is not None  # the service answered it
        _wait_for(lambda: not os.path.exists(path) and not _locked(path), 30)  # idle for 3 s: gone
    finally:
        for pid in (int(entry) for entry in os.listdir("/proc") if entry.isdigit()):
            try:
                if f"unix://{path}".encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                    os.kill(pid, 9)
            except OSError:
                continue
        shutil.rmtree(runtime)
