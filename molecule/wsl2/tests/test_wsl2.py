"""What the container_runtime role promises on WSL2 without systemd (a fresh distribution)."""

import json


def test_role_detected_wsl2_without_docker_desktop(host):
    facts = json.loads(host.file("/var/lib/aishell/molecule-wsl2-facts.json").content_string)
    assert {key: facts[key] for key in ("wsl", "docker_desktop", "systemd_configured")} == {
        "wsl": "wsl2", "docker_desktop": False, "systemd_configured": True}


def test_user_is_told_to_run_wsl_shutdown_once(host):
    facts = json.loads(host.file("/var/lib/aishell/molecule-wsl2-facts.json").content_string)
    [note] = facts["notes"]
    assert "`wsl --shutdown`" in note and "started directly" in note


def test_wsl_conf_turns_systemd_on_in_its_boot_section(host):
    lines = [line.strip() for line in host.file("/etc/wsl.conf").content_string.splitlines()]
    assert lines.index("[boot]") < lines.index("systemd=true")


def test_docker_engine_is_installed_in_the_distribution(host):
    assert host.package("docker.io").is_installed


def test_dockerd_runs_without_an_init_system_until_wsl_restarts(host):
    assert not host.file("/run/systemd/system").exists
    assert host.process.filter(comm="dockerd")


def test_container_runs_in_the_distribution(host):
    out = host.check_output("docker run --rm --network none localhost/aishell-verify:busybox echo wsl2-ok")
    assert out == "wsl2-ok"


def test_iptables_stays_on_nftables_where_the_kernel_takes_docker_rules(host):
    # The probe of tasks/wsl_iptables.yml ran and found nothing to switch (this kernel supports nf_tables).
    facts = json.loads(host.file("/var/lib/aishell/molecule-wsl2-facts.json").content_string)
    assert facts["nft_probe_rc"] == 0
    assert host.check_output("readlink /etc/alternatives/iptables") == "/usr/sbin/iptables-nft"
    assert "AISHELL-PROBE" not in host.check_output("iptables-nft -w -t nat -S")
