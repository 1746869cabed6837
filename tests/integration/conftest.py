"""Integration tests need the engines that `make test` provisions (tests/provision.yml)."""

import functools
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

ROOTLESS_USER = "aishell-test"
VERIFY_IMAGE = "localhost/aishell-verify:busybox"
# The variables tests/provision.yml bootstraps this machine with.
# The image inputs every sandbox test shares (offline base, every agent at the role's version: the agent
# tests drive each of them): the first integration test to launch builds them (test_agents.py,
# alphabetically), the others wait for no build.
IMAGE_CONFIG = """\
image:
  base_source: debootstrap
"""
PROVISIONED = {"bootstrap_engines": ["docker", "podman"], "container_runtime_rootless_users": [ROOTLESS_USER],
               "container_runtime_gvisor": True}


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


def checked(run: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    """`run` when it succeeded; otherwise the test stops here, naming the step and what it printed."""
    if run.returncode != 0:
        pytest.fail(f"{what} exited {run.returncode}\n>>> stdout\n{run.stdout}\n>>> stderr\n{run.stderr}",
                    pytrace=False)
    return run


def rootless_environment(uid: str) -> str:
    """The test user's environment for a shell command (`su` keeps root's): its runtime directory, and its
    commands through its prefork server, as a user with a login session has them (tests/conftest.py turns the
    server off for root's)."""
    return f"XDG_RUNTIME_DIR=/run/user/{uid} AISHELL_RUN_SERVER=on"


def run_as_rootless_user(command: str, check: bool = False) -> subprocess.CompletedProcess:
    """`command` in a login-less shell of the test user. Unchecked by default: the callers assert on the
    result (a failure is what some of them expect); `check=True` for set-up steps."""
    uid = subprocess.run(["id", "-u", ROOTLESS_USER], capture_output=True, text=True, check=True).stdout.strip()
    run = subprocess.run(
        ["su", ROOTLESS_USER, "-c", f"{rootless_environment(uid)} {command}"],
        capture_output=True, text=True, cwd="/",
    )
    return checked(run, f"as {ROOTLESS_USER}: {command}") if check else run


def sandbox_config(engine: str, runtime: str = "runc") -> str:
    """Project settings for a sandbox on `engine` (under `runtime`, security.runtime) that reuses the images the
    image tests built."""
    return f"engine: {engine}\n{IMAGE_CONFIG}" + (f"security: {{runtime: {runtime}}}\n" if runtime != "runc" else "")


class Sandbox:
    """aishell-run on one engine, in a fresh project of the user who runs it."""

    def __init__(self, engine: str, root: Path, as_user: bool, runtime: str = "runc"):
        self.engine, self.root, self.as_user, self.runtime = engine, root, as_user, runtime
        # The user settings layer of this sandbox's runs (beside the project, not in it).
        self.config_home = root.parent / f"{root.name}.config"
        self.env: dict[str, str] = {}  # more variables for its runs of aishell-run

    def shell(self, command: str, check: bool = True) -> subprocess.CompletedProcess:
        """A shell command on the host, as the sandbox's user; a failure stops the test unless `check=False`."""
        if self.as_user:
            run = run_as_rootless_user(f"sh -c {shlex.quote(command)}")
        else:
            run = subprocess.run(["sh", "-c", command], capture_output=True, text=True)
        if not check:
            return run
        return checked(run, f"on the host as {ROOTLESS_USER if self.as_user else 'root'}: {command}")

    def put(self, source: Path, name: str) -> None:
        """A copy of `source` (a file of this checkout) in the project, owned by the sandbox's user.

        Copied by this process (root), not by the user: the checkout may be where only root can read
        (CI's clone lives in a folder of its own choosing, root's home for one)."""
        self.shell(f"mkdir -p {self.root}")
        target = self.root / name
        shutil.copyfile(source, target)
        owner = self.shell("id -u; id -g").stdout.split()
        os.chown(target, int(owner[0]), int(owner[1]))

    def configure(self, extra: str = "") -> None:
        """The project's settings; also makes the sandbox's configuration home (see `aishell`)."""
        config = sandbox_config(self.engine, self.runtime) + extra
        self.shell(f"mkdir -p {self.root}/.aishell && printf %s {shlex.quote(config)} > "
                   f"{self.root}/.aishell/config.yaml")
        # XDG_CONFIG_HOME moves Podman's own configuration too: it keeps the user's (storage.conf's
        # overlay driver), as a real user's Podman would.
        self.shell(f"mkdir -p {self.config_home}/aishell && ln -sfn ~/.config/containers {self.config_home}/containers")

    def configure_user(self, config: str) -> None:
        self.shell(f"mkdir -p {self.config_home}/aishell && printf %s {shlex.quote(config)} > "
                   f"{self.config_home}/aishell/config.yaml")

    def aishell(self, arguments: str) -> subprocess.CompletedProcess:
        """`aishell-run ARGUMENTS` in the project, with this sandbox's user settings (unchecked: its status
        is what the tests assert on)."""
        # Root runs this checkout's code (also from a git worktree of it: the environment's editable install
        # points at the main checkout); the test user its installed copy.
        aishell = "/opt/aishell-test/venv/bin/aishell-run" if self.as_user else \
            f"PYTHONPATH={shlex.quote(str(Path(__file__).parents[2]))} {Path(sys.executable).parent / 'aishell-run'}"
        env = " ".join(f"{name}={shlex.quote(value)}" for name, value in self.env.items())
        return self.shell(f"cd {self.root} && XDG_CONFIG_HOME={self.config_home} {env} {aishell} {arguments}",
                          check=False)

    def run(self, command: str) -> subprocess.CompletedProcess:
        """`command` inside a sandbox (unchecked, like `aishell`)."""
        return self.aishell(f"exec -- sh -c {shlex.quote(command)}")

    def remove(self) -> None:
        self.shell(f"rm -rf {self.root} {self.config_home}")


@functools.cache
def rootful_podman_has_dockers_images() -> None:
    """Rootful Podman's sandbox images (the inputs every sandbox test shares), loaded from Docker's rather than
    built a second time.

    The two engines of root build the very same images from the same inputs: an image's own tag and its label
    are its inputs' hash, not the engine's, so Podman takes Docker's as current (aishell_runner/images.py). A
    build costs minutes of CI's two cores and a load about one; Podman's own build is still shown by the
    rootless lane (its first launch and test_rootless_podman_builds_the_foundation_in_the_users_storage), and
    Docker's by this lane's first launch and test_sandbox_images.py. Images Podman has already are kept."""
    with tempfile.TemporaryDirectory() as scratch:
        project = Path(scratch) / "project"
        (project / ".aishell").mkdir(parents=True)
        (project / ".aishell" / "config.yaml").write_text(sandbox_config("docker"))
        (Path(scratch) / "config").mkdir()  # no user settings layer: the sandboxes' own come on top of none
        build = checked(subprocess.run(
            [str(Path(sys.executable).parent / "aishell-run"), "build", "--json", str(project)],
            capture_output=True, text=True, env={**os.environ, "XDG_CONFIG_HOME": f"{scratch}/config"}),
            "aishell-run build on Docker (the images rootful Podman loads)")
    images = json.loads(build.stdout)["images"]
    missing = [image for image in images
               if subprocess.run(["podman", "image", "exists", image["image"]]).returncode != 0]
    if missing:
        checked(subprocess.run(["bash", "-o", "pipefail", "-c", 'docker save "$@" | podman load', "bash",
                                *(image["image"] for image in missing)], capture_output=True, text=True),
                "docker save | podman load")
    for image in images:  # the names as set follow the images a launch wants, as a build would leave them
        checked(subprocess.run(["podman", "tag", image["image"], image["name"]], capture_output=True, text=True),
                f"podman tag {image['image']} {image['name']}")


def new_sandbox(kind: str, tmp_dir: Path) -> Sandbox:
    """A fresh project: "docker" or "rootful-podman" run by root, or "rootless-podman" run by the test user
    in its home; KIND+runsc (say "docker+runsc") the same under gVisor (security.runtime: runsc)."""
    kind, _, runtime = kind.partition("+")
    runtime = runtime or "runc"
    if kind == "rootful-podman":
        rootful_podman_has_dockers_images()
    if kind in ("docker", "rootful-podman"):
        return Sandbox(kind.removeprefix("rootful-"), tmp_dir / "project", as_user=False, runtime=runtime)
    home = subprocess.run(["getent", "passwd", ROOTLESS_USER], capture_output=True, text=True,
                          check=True).stdout.split(":")[5]
    return Sandbox("podman", Path(home) / f"project-{uuid.uuid4().hex[:8]}", as_user=True, runtime=runtime)
