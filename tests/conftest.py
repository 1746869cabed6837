"""Shared test set-up."""

import os
import sys
from pathlib import Path

# ansible-runner starts `ansible-playbook` by name: make the one installed
# beside this interpreter (the project's virtual environment) the one found.
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
# Root's commands run in their own process (no prefork server: aishell_runner/prefork/), so that a test that
# plays a crash kills the process that runs the command; the rootless lane's launches (run_as_rootless_user
# turns the server back on) and tests/unit/test_prefork.py go through servers of their own.
os.environ["AISHELL_RUN_SERVER"] = "off"


# Lanes of tests that share no state, so that `make pytest` runs them side by side: each engine's user has
# its own images, proxy and broker, the fleet its own hosts. The host lane re-provisions this machine and
# takes its engines apart, so it runs alone, after the others.
LANES = {
    "unit": "tests that start no engine",
    "root": "root's Docker Engine and rootful Podman",
    "rootless": "the test user's rootless Podman",
    "fleet": "the fleet's SSH hosts (containers on a bridge of their own)",
    "host": "bootstrap runs on this machine: alone, after the other lanes",
}
HOST_MODULES = {"test_bootstrap_cli", "test_provisioned_host", "test_zz_interrupted_bootstrap"}


def lane(item) -> str:
    path = Path(item.fspath)
    if "integration" not in path.parts:
        return "unit"
    if path.stem in HOST_MODULES:
        return "host"
    if path.stem == "test_fleet":
        return "fleet"
    # The rootless cases are named so: a `rootless-podman` parameter or a test (or module) of that name.
    if "rootless" in item.name or "rootless" in path.stem:
        return "rootless"
    return "root"


def pytest_addoption(parser):
    parser.addoption("--lane", choices=sorted(LANES), help="run one lane's tests: " +
                     "; ".join(f"{name}, {what}" for name, what in LANES.items()))


def pytest_collection_modifyitems(config, items):
    wanted = config.getoption("--lane")
    if wanted is None:
        return
    chosen = [item for item in items if lane(item) == wanted]
    config.hook.pytest_deselected(items=[item for item in items if lane(item) != wanted])
    items[:] = chosen
