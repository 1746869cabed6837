"""Sandbox images on real engines: built offline, trusted CA, rebuilt only when an input changed.

The tests share one project and run in order: each starts from the images the
previous one left. Their inputs are their own (a CA bundle carrying this run's
nonce): an image store kept from an earlier run (a developer's second `make
test`, a CI machine whose engine storage was kept) holds none of them, so
"built" means built by this run. The images they tag are removed at the end.
"""

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from tests.ansible_helpers import REPO, run_play
from tests.integration.conftest import ROOTLESS_USER, run_as_rootless_user

AISHELL_RUN = str(Path(sys.executable).parent / "aishell-run")
FOUNDATION = "localhost/aishell-foundation:latest"
EGRESS = "localhost/aishell-egress:latest"  # the egress proxy's image, built with the foundation
# Offline base, and only Claude Code: the other agents would only add minutes.
SMALL = ["--base-source", "debootstrap", "--agent", "codex=", "--agent", "gemini=", "--agent", "opencode="]


# Where the role looks for the host's CA bundle (`--ca-bundle auto`).
HOST_CA_BUNDLES = yaml.safe_load((REPO / "roles/sandbox_image/vars/main.yml").read_text())[
    "__sandbox_image_ca_candidates"]
TAGGED: set[str] = set()  # the images' own tags this module's builds reported, and its project's name


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    (root / ".aishell").mkdir()
    (root / ".aishell" / "Dockerfile").write_text(
        f"FROM {FOUNDATION}\nRUN echo one > /etc/aishell-extension\n"
    )
    host_bundle = next((Path(path) for path in HOST_CA_BUNDLES if Path(path).is_file()), None)
    assert host_bundle, f"no host CA bundle at any of {HOST_CA_BUNDLES}"
    # The host's bundle still (npm inside must reach the registry); the comment makes the inputs this run's.
    (root / "ca-bundle.pem").write_text(f"{host_bundle.read_text()}\n# test run {uuid.uuid4()}\n")
    yield root
    if TAGGED:
        removed = subprocess.run(["docker", "image", "rm", *sorted(TAGGED)], capture_output=True, text=True)
        assert removed.returncode == 0, removed.stderr


def build(project, *extra, expect=0):
    argv = [AISHELL_RUN, "build", "--json", *SMALL, "--ca-bundle", str(project / "ca-bundle.pem"), *extra]
    run = subprocess.run(argv, cwd=project, capture_output=True, text=True)
    assert run.returncode == expect, run.stderr
    if expect != 0:
        return run
    document = json.loads(run.stdout)
    TAGGED.update(image["image"] for image in document["images"] if image["size_bytes"])
    TAGGED.add(extension(document))  # the project's name as set, this run's project's alone
    return document


def image_id(name):
    return subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", name],
                          capture_output=True, text=True, check=True).stdout.strip()


def in_image(image, command):
    return subprocess.run(["docker", "run", "--rm", image, "sh", "-c", command], capture_output=True, text=True)


def built(document):
    return {image["name"]: image["built"] for image in document["images"]}


def extension(document):
    return document["images"][-1]["name"]  # after the foundation and the egress image


def test_foundation_builds_on_the_offline_base_with_the_agent_inside(project):
    document = build(project)
    foundation = document["images"][0]
    assert foundation["name"] == FOUNDATION and foundation["base"] == "debootstrap"
    assert foundation["size_bytes"] > 0
    assert in_image(FOUNDATION, "claude --version").stdout.startswith("2.1.332")
    assert in_image(FOUNDATION, "detect-secrets --version").returncode == 0


def test_the_egress_image_is_squid_on_the_same_base_run_unprivileged(project):
    document = build(project)
    egress = next(image for image in document["images"] if image["name"] == EGRESS)
    assert egress["base"] == "debootstrap" and egress["size_bytes"] > 0
    run = in_image(EGRESS, "id -un; squid -k parse -f /etc/squid/squid.conf 2>&1 | grep -ci error; test -x "
                           "/usr/local/lib/aishell-egress/policy && echo helper")
    assert run.stdout.split() == ["proxy", "0", "helper"], run.stdout + run.stderr


def test_foundation_keeps_no_compiler_package_lists_or_npm_cache(project):
    leftovers = in_image(FOUNDATION, "command -v gcc cc; ls /var/lib/apt/lists; ls -A /root/.npm 2>/dev/null; true")
    assert leftovers.stdout.split() == []


def test_host_ca_bundle_lets_npm_reach_the_registry_inside(project):
    run = in_image(FOUNDATION, "npm view is-number version")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip()


def test_nothing_changed_builds_nothing_and_starts_no_ansible(project, tmp_path, monkeypatch):
    build(project)  # converge
    state = tmp_path / "state"
    run = subprocess.run([AISHELL_RUN, "build", "--json", *SMALL, "--ca-bundle", str(project / "ca-bundle.pem")],
                         cwd=project, capture_output=True, text=True, env={**os.environ, "XDG_STATE_HOME": str(state)})
    assert run.returncode == 0, run.stderr
    assert not any(built(json.loads(run.stdout)).values())
    assert not (state / "aishell" / "runs").exists()  # no ansible-runner run was started


def test_edited_extension_rebuilds_only_the_extension(project):
    foundation_before = image_id(FOUNDATION)
    (project / ".aishell" / "Dockerfile").write_text(f"FROM {FOUNDATION}\nRUN echo two > /etc/aishell-extension\n")
    document = build(project)
    assert built(document) == {FOUNDATION: False, EGRESS: False, extension(document): True}
    assert image_id(FOUNDATION) == foundation_before
    assert in_image(extension(document), "cat /etc/aishell-extension").stdout.strip() == "two"


def test_failing_extension_keeps_the_previous_image(project):
    name = extension(build(project))
    before = image_id(name)
    dockerfile = project / ".aishell" / "Dockerfile"
    good = dockerfile.read_text()
    dockerfile.write_text(good + "RUN exit 7\n")
    run = build(project, expect=1)
    assert "RUN exit 7" in run.stderr and "Full log:" in run.stderr and "Traceback" not in run.stderr
    assert image_id(name) == before
    dockerfile.write_text(good)


def test_missing_npm_version_fails_and_keeps_the_foundation(project):
    before = image_id(FOUNDATION)
    run = build(project, "--agent", "claude=0.0.0-does-not-exist", expect=1)
    assert "npm install" in run.stderr and "Traceback" not in run.stderr
    assert image_id(FOUNDATION) == before


def test_missing_ca_bundle_is_refused_before_any_build(project):
    run = build(project, "--ca-bundle", "/nonexistent/ca.pem", expect=2)
    assert "/nonexistent/ca.pem does not exist" in run.stderr


def test_unreachable_registry_without_fallback_is_refused(project):
    before = image_id(FOUNDATION)
    run = build(project, "--base-source", "registry", "--no-fallback", expect=1)
    assert "could not be pulled" in run.stderr
    assert image_id(FOUNDATION) == before


def test_unreachable_registry_falls_back_to_the_offline_base(project):
    document = build(project, "--base-source", "registry")
    assert document["images"][0]["base"] == "debootstrap"
    assert document["fell_back_to_offline_base"] is True
    assert built(document) == {FOUNDATION: True, EGRESS: True, extension(document): True}


def test_new_agent_version_rebuilds_the_foundation_then_the_extension_but_not_the_proxys_image(project):
    document = build(project, "--agent", "claude=2.1.331")
    # The proxy's image is made of the base, the CA bundle and its own files: projects whose agents differ share
    # it, and the one proxy that runs it (its configuration label holds the same inputs).
    assert built(document) == {FOUNDATION: True, EGRESS: False, extension(document): True}
    assert in_image(extension(document), "claude --version").stdout.startswith("2.1.331")
    build(project)  # back to the default pins for whoever comes next


# The two tests below ask for the inputs every sandbox test shares (conftest.IMAGE_CONFIG: the offline base,
# every agent), which the first launch on the engine built (or they build them): one build per engine and
# user in a test run, not one more for these. Rootful Podman's are loaded from Docker's by its first launch
# (conftest.rootful_podman_has_dockers_images): Podman's own build is the rootless user's.
def test_rootless_podman_builds_the_foundation_in_the_users_storage(tmp_path):
    outcome = run_play(
        "playbooks/sandbox_image.yml",
        tmp_path,
        extravars={
            "sandbox_image_engine": "podman",
            "sandbox_image_user": ROOTLESS_USER,
            "sandbox_image_base_source": "debootstrap",
        },
    )
    assert outcome.rc == 0, outcome.failure_messages
    report = outcome.custom_stats["aishell_images"]["localhost"][FOUNDATION]
    assert report["present"] and report["base"] == "debootstrap"
    run = run_as_rootless_user(f"podman run --rm --userns=keep-id {FOUNDATION} claude --version")
    assert run.stdout.startswith("2.1.332"), run.stderr


def test_rootful_podman_builds_the_foundation(tmp_path):
    run = subprocess.run([AISHELL_RUN, "build", "--json", "--engine", "podman", "--base-source", "debootstrap"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert document["engine"] == "podman"
    assert [image["name"] for image in document["images"]] == [FOUNDATION, EGRESS]
    version = subprocess.run(["podman", "run", "--rm", FOUNDATION, "claude", "--version"], capture_output=True,
                             text=True)
    assert version.stdout.startswith("2.1.332"), version.stderr
