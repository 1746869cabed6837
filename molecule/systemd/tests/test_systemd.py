"""What the container_runtime role promises on a host that runs systemd.

Docker Engine runs as the systemd unit `docker.service`; rootful Podman uses
systemd's cgroup manager and journal; the rootless user lingers, so logind
keeps the user's runtime directory and systemd user manager up without a
login session.
"""

import json

import pytest

ROOTLESS = "alice"
IMAGE = "localhost/aishell-verify:busybox"


def as_alice(host, command):
    uid = host.user(ROOTLESS).uid
    return host.run(f"su {ROOTLESS} -c 'XDG_RUNTIME_DIR=/run/user/{uid} {command}'")


def test_systemd_is_the_init_system(host):
    assert host.file("/proc/1/comm").content_string.strip() == "systemd"
    assert host.file("/run/systemd/system").is_directory
    state = host.run("systemctl is-system-running").stdout.strip()
    assert state in ("running", "degraded"), host.run("systemctl --failed --no-legend").stdout


@pytest.mark.parametrize("package", ["docker.io", "podman", "uidmap", "slirp4netns", "runc"])
def test_packages_are_installed(host, package):
    assert host.package(package).is_installed


def test_docker_runs_as_an_enabled_systemd_unit(host):
    assert host.check_output("systemctl is-active docker") == "active"
    assert host.check_output("systemctl is-enabled docker") == "enabled"
    # The daemon that answers is the unit's own process, not one started in the background.
    main_pid = host.check_output("systemctl show --property MainPID --value docker")
    assert main_pid != "0"
    assert host.file(f"/proc/{main_pid}/comm").content_string.strip() == "dockerd"
    assert [p.pid for p in host.process.filter(comm="dockerd")] == [int(main_pid)]


def test_docker_uses_the_configured_options(host):
    daemon_json = host.file("/etc/docker/daemon.json")
    assert json.loads(daemon_json.content_string) == {"log-driver": "local"}
    assert host.check_output("docker info --format '{{.LoggingDriver}}'") == "local"


def test_docker_container_runs(host):
    out = host.check_output(f"docker run --rm --network none {IMAGE} echo nested-ok")
    assert out == "nested-ok"


def test_podman_uses_systemd_on_a_systemd_host(host):
    drop_in = host.file("/etc/containers/containers.conf.d/50-aishell.conf").content_string
    assert "cgroup_manager" not in drop_in
    out = host.check_output("podman info --format '{{.Host.CgroupManager}} {{.Host.EventLogger}}'")
    assert out == "systemd journald"


def test_rootful_podman_container_runs(host):
    out = host.check_output(f"podman run --rm --network none {IMAGE} echo ok")
    assert out == "ok"


def test_rootless_user_lingers(host):
    out = host.check_output(f"loginctl show-user {ROOTLESS} --property Linger --value")
    assert out == "yes"
    assert host.file(f"/var/lib/systemd/linger/{ROOTLESS}").exists


def test_logind_keeps_the_runtime_directory_and_user_manager_up(host):
    uid = host.user(ROOTLESS).uid
    # logind mounts the runtime directory (the role creates it only without systemd).
    assert host.mount_point(f"/run/user/{uid}").exists
    assert host.check_output(f"systemctl is-active user@{uid}.service") == "active"
    result = as_alice(host, "systemctl --user is-system-running")
    assert result.stdout.strip() in ("running", "degraded"), result.stderr


def test_tun_device_is_usable_and_stays_so(host):
    assert host.file("/dev/net/tun").mode == 0o666
    assert host.file("/etc/udev/rules.d/60-aishell-tun.rules").contains('MODE="0666"')


def test_rootless_storage_is_overlay(host):
    result = as_alice(host, "podman info --format {{.Store.GraphDriverName}}")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "overlay"


def test_rootless_container_runs_as_the_user_with_networking(host):
    uid = host.user(ROOTLESS).uid
    result = as_alice(host, f"podman run --rm --userns=keep-id {IMAGE} id -u")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == str(uid)
    result = as_alice(host, f"podman run --rm {IMAGE} ip -o link")
    assert result.rc == 0, result.stderr
    assert "tap0" in result.stdout


@pytest.mark.parametrize("bridge", ["podman+", "cni-podman+"])
def test_dockers_forward_policy_lets_podmans_bridges_through(host, bridge):
    # docker_coexistence.yml: converge's Podman run found the rules missing and inserted them (Docker ran first).
    comment = "aishell-run: Podman bridges past Docker FORWARD DROP"
    rule = f"-i '{bridge}' -o '{bridge}' -j ACCEPT -m comment --comment '{comment}'"
    result = host.run(f"iptables -w -C DOCKER-USER {rule}")
    assert result.rc == 0, result.stderr
