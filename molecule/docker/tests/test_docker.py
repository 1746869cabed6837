"""What the container_runtime role promises for Docker Engine on a host without systemd."""

import json


def test_docker_engine_package_is_installed(host):
    assert host.package("docker.io").is_installed


def test_daemon_json_carries_the_configured_options(host):
    daemon_json = host.file("/etc/docker/daemon.json")
    assert json.loads(daemon_json.content_string) == {"log-driver": "local"}


def test_daemon_answers_on_its_socket_and_uses_the_options(host):
    out = host.check_output("docker info --format '{{.LoggingDriver}}'")
    assert out == "local"


def test_daemon_was_started_without_an_init_system(host):
    assert not host.file("/run/systemd/system").exists
    assert host.process.filter(comm="dockerd")


def test_nested_container_runs(host):
    out = host.check_output(
        "docker run --rm --network none localhost/aishell-verify:busybox echo nested-ok"
    )
    assert out == "nested-ok"


def test_nobody_was_added_to_the_docker_group(host):
    assert host.group("docker").exists
    members = host.check_output("getent group docker").split(":")[3]
    assert members == ""


def test_the_started_configuration_is_recorded(host):
    # docker.yml restarts dockerd whenever daemon.json differs from this record
    # (side_effect.yml proves it after an interrupted run and after emptying the options).
    record = host.file("/var/lib/aishell/dockerd-config.sha256").content_string.strip()
    assert record == host.file("/etc/docker/daemon.json").sha256sum
