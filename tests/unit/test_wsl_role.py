"""The container_runtime role's WSL detection, run by real Ansible with pretended kernel releases."""

from tests.ansible_helpers import run_play


def detect(tmp_path, kernel, distro="", **extra):
    return run_play("tests/playbooks/wsl_detect.yml", tmp_path,
                    extravars={"kernel": kernel, "distro": distro, **extra}, cmdline="--check")


def test_wsl1_is_refused_with_the_conversion_command_before_any_change(tmp_path):
    outcome = detect(tmp_path, "4.4.0-19041-Microsoft", distro="Ubuntu")
    assert outcome.rc != 0
    message = " ".join(outcome.failure_messages)
    assert "WSL1" in message and "wsl --set-version Ubuntu 2" in message and "Nothing was changed" in message
    assert outcome.changed() == 0


def test_wsl2_uses_the_distribution_engine_when_docker_desktop_is_absent(tmp_path):
    outcome = detect(tmp_path, "5.15.153.1-microsoft-standard-WSL2")
    assert outcome.rc == 0, outcome.failure_messages
    detected = outcome.custom_stats["wsl"]
    assert (detected["kind"], detected["docker_desktop"], detected["engine_tasks"]) == ("wsl2", False, "docker.yml")
    assert "docker.io" in detected["packages"] and detected["notes"] == []
    assert outcome.changed() == 0


def test_plain_linux_is_not_wsl(tmp_path):
    outcome = detect(tmp_path, "6.1.0-18-amd64")
    assert outcome.rc == 0, outcome.failure_messages
    assert outcome.custom_stats["wsl"]["kind"] == ""


def test_docker_desktop_integration_is_respected_not_fought(tmp_path):
    # What Docker Desktop leaves in an integrated distribution: its CLI linked from its WSL share.
    cli = tmp_path / "docker"
    cli.symlink_to("/mnt/wsl/docker-desktop/cli-tools/usr/bin/docker")
    outcome = detect(tmp_path, "5.15.153.1-microsoft-standard-WSL2", distro="Ubuntu",
                     __container_runtime_wsl_desktop_cli=str(cli),
                     __container_runtime_wsl_desktop_pidfile=str(tmp_path / "no-proxy.pid"))
    assert outcome.rc == 0, outcome.failure_messages
    detected = outcome.custom_stats["wsl"]
    assert detected["docker_desktop"] is True and detected["engine_tasks"] == "docker_desktop.yml"
    assert "docker.io" not in detected["packages"] and "python3-requests" in detected["packages"]
    [note] = detected["notes"]
    assert "Docker Desktop's WSL integration serves Docker" in note and "WSL integration" in note


def test_docker_desktop_proxy_alone_is_enough_to_respect_it(tmp_path):
    pidfile = tmp_path / "docker-desktop-proxy.pid"
    pidfile.write_text("417\n")
    outcome = detect(tmp_path, "5.15.153.1-microsoft-standard-WSL2",
                     __container_runtime_wsl_desktop_cli=str(tmp_path / "no-docker"),
                     __container_runtime_wsl_desktop_pidfile=str(pidfile))
    assert outcome.rc == 0, outcome.failure_messages
    assert outcome.custom_stats["wsl"]["engine_tasks"] == "docker_desktop.yml"
