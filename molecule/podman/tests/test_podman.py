"""What the container_runtime role promises for Podman, rootful and rootless."""

import pytest

ROOTLESS = "alice"


def as_alice(host, command):
    uid = host.user(ROOTLESS).uid
    return host.run(f"su {ROOTLESS} -c 'XDG_RUNTIME_DIR=/run/user/{uid} {command}'")


@pytest.mark.parametrize("package", ["podman", "uidmap", "slirp4netns", "runc"])
def test_packages_are_installed(host, package):
    assert host.package(package).is_installed


def test_settings_are_a_drop_in_and_the_distribution_file_is_untouched(host):
    drop_in = host.file("/etc/containers/containers.conf.d/50-aishell.conf")
    assert drop_in.exists
    assert 'cgroup_manager = "cgroupfs"' in drop_in.content_string
    assert not host.file("/etc/containers/containers.conf").exists


def test_ulimits_stay_within_the_host_hard_limits(host):
    hard_nofile = int(host.check_output("prlimit --nofile --output HARD --noheadings --raw"))
    out = host.check_output("podman run --rm --network none localhost/aishell-verify:busybox sh -c 'ulimit -n'")
    assert int(out) <= hard_nofile


def test_rootful_container_runs(host):
    out = host.check_output("podman run --rm --network none localhost/aishell-verify:busybox echo ok")
    assert out == "ok"


def test_rootless_user_has_subordinate_ids(host):
    for path in ("/etc/subuid", "/etc/subgid"):
        assert host.file(path).contains(f"^{ROOTLESS}:")


def test_tun_device_is_usable_by_rootless_users(host):
    assert host.file("/dev/net/tun").mode == 0o666


def test_rootless_storage_is_overlay(host):
    result = as_alice(host, "podman info --format {{.Store.GraphDriverName}}")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == "overlay"


def test_only_the_driver_key_of_the_users_own_storage_conf_was_set(host):
    # Podman 4.3 reads no storage.conf.d: the role edits the driver key of the
    # user's file in place (prepare.yml gave alice one saying vfs).
    content = host.file(f"/home/{ROOTLESS}/.config/containers/storage.conf").content_string
    assert "# alice's own storage settings" in content
    assert 'rootless_storage_path = "$HOME/.local/share/containers/storage"' in content
    assert 'driver = "overlay"' in content
    assert "vfs" not in content


def test_rootless_container_runs_as_the_user_with_networking(host):
    uid = host.user(ROOTLESS).uid
    result = as_alice(
        host, "podman run --rm --userns=keep-id localhost/aishell-verify:busybox id -u"
    )
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == str(uid)
    # slirp4netns gives the container a tap device: rootless networking works.
    result = as_alice(host, "podman run --rm localhost/aishell-verify:busybox ip -o link")
    assert result.rc == 0, result.stderr
    assert "tap0" in result.stdout
