"""The container_runtime role's WSL detection, run by real Ansible with pretended kernel releases."""

from tests.ansible_helpers import run_play


def detect(tmp_path, kernel, distro=""):
    return run_play("tests/playbooks/wsl_detect.yml", tmp_path, extravars={"kernel": kernel, "distro": distro},
                    cmdline="--check")


def test_wsl1_is_refused_with_the_conversion_command_before_any_change(tmp_path):
    outcome = detect(tmp_path, "4.4.0-19041-Microsoft", distro="Ubuntu")
    assert outcome.rc != 0
    message = " ".join(outcome.failure_messages)
    assert "WSL1" in message and "wsl --set-version Ubuntu 2" in message and "Nothing was changed" in message
    assert outcome.changed() == 0


def test_wsl2_uses_the_distribution_engine_when_docker_desktop_is_absent(tmp_path):
    outcome = detect(tmp_path, "5.15.153.1-microsoft-standard-WSL2")
    assert outcome.rc == 0, outcome.failure_messages
    assert outcome.custom_stats["wsl"] == {"kind": "wsl2", "docker_desktop": False, "engine_tasks": "docker.yml"}
    assert outcome.changed() == 0


def test_plain_linux_is_not_wsl(tmp_path):
    outcome = detect(tmp_path, "6.1.0-18-amd64")
    assert outcome.rc == 0, outcome.failure_messages
    assert outcome.custom_stats["wsl"]["kind"] == ""
