"""The role's per-family selection, checked with real Ansible for families CI cannot boot."""

import pytest

from tests.ansible_helpers import run_play

FAMILIES = [
    # (os_family, distribution, natural engine, a package that must be installed)
    ("Debian", "Ubuntu", "docker", "docker.io"),
    ("RedHat", "Fedora", "podman", "podman"),
    ("Archlinux", "Archlinux", "docker", "docker"),
    ("Suse", "openSUSE Tumbleweed", "docker", "docker"),
]


def select(tmp_path, family, distribution, **extra):
    return run_play(
        "tests/playbooks/select_engine.yml",
        tmp_path,
        extravars={"family": family, "distribution": distribution, **extra},
    )


@pytest.mark.parametrize(("family", "distribution", "engine", "package"), FAMILIES)
def test_auto_picks_the_family_natural_engine(tmp_path, family, distribution, engine, package):
    outcome = select(tmp_path, family, distribution)
    assert outcome.rc == 0, outcome.failure_messages
    selection = outcome.custom_stats["selection"]
    assert selection["engine"] == engine
    assert package in selection["packages"]
    assert selection["task_file"] == f"{family}.yml"


@pytest.mark.parametrize(("family", "distribution"), [(f[0], f[1]) for f in FAMILIES])
def test_podman_brings_rootless_networking_on_every_family(tmp_path, family, distribution):
    outcome = select(tmp_path, family, distribution, container_runtime_engine="podman")
    assert outcome.rc == 0, outcome.failure_messages
    packages = outcome.custom_stats["selection"]["packages"]
    assert "podman" in packages and "slirp4netns" in packages


def test_upstream_docker_uses_docker_ce_on_debian(tmp_path):
    outcome = select(
        tmp_path, "Debian", "Debian",
        container_runtime_engine="docker", container_runtime_docker_source="upstream",
    )
    assert outcome.rc == 0, outcome.failure_messages
    assert "docker-ce" in outcome.custom_stats["selection"]["packages"]


def test_unsupported_family_fails_with_a_readable_message(tmp_path):
    outcome = select(tmp_path, "Gentoo", "Gentoo")
    assert outcome.rc != 0
    message = " ".join(outcome.failure_messages)
    assert "Gentoo" in message and "not supported" in message


def test_misspelt_engine_is_refused_by_the_argument_spec_before_any_change(tmp_path):
    outcome = run_play(
        "playbooks/bootstrap.yml", tmp_path, extravars={"bootstrap_engines": ["dockr"]}, cmdline="--check"
    )
    assert outcome.rc != 0
    message = " ".join(outcome.failure_messages)
    assert "container_runtime_engine" in message and "dockr" in message
    assert outcome.changed() == 0
