"""Integration tests need the engines that `make test` provisions (tests/provision.yml)."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOTLESS_USER = "aishell-test"
VERIFY_IMAGE = "localhost/aishell-verify:busybox"
# The variables tests/provision.yml bootstraps this machine with.
# The image inputs test_sandbox_images.py builds (offline base, Claude Code
# only), so the launch tests that run after it wait for no build.
IMAGE_CONFIG = """\
image:
  base_source: debootstrap
agents:
  codex: {version: ""}
  gemini: {version: ""}
  opencode: {version: ""}
"""
PROVISIONED = {"bootstrap_engines": ["docker", "podman"], "container_runtime_rootless_users": [ROOTLESS_USER]}


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session", autouse=True)
def engines_are_provisioned():
    for engine in ("docker", "podman"):
        if shutil.which(engine) is None or subprocess.run([engine, "info"], capture_output=True).returncode:
            pytest.fail(f"{engine} does not answer: run `make test` (it provisions the engines) first")


def run_as_rootless_user(command: str) -> subprocess.CompletedProcess:
    uid = subprocess.run(["id", "-u", ROOTLESS_USER], capture_output=True, text=True, check=True).stdout.strip()
    return subprocess.run(
        ["su", ROOTLESS_USER, "-c", f"XDG_RUNTIME_DIR=/run/user/{uid} {command}"],
        capture_output=True, text=True, cwd="/",
    )


def sandbox_config(engine: str) -> str:
    """Project settings for a sandbox on `engine` that reuses the images the image tests built."""
    return f"engine: {engine}\n{IMAGE_CONFIG}"
