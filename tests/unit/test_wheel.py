"""The wheel carries what aishell-run reads at run time (setup.py copies it into aishell_runner/_data), and
install_root() finds it there once installed, finds the checkout in an editable install, and says what is
missing otherwise."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import aishell_runner
from aishell_runner import paths
from aishell_runner.errors import AishellError

REPO = Path(__file__).resolve().parents[2]


def _layout(root: Path) -> Path:
    for name in ("roles", "playbooks"):
        (root / name).mkdir(parents=True)
    return root


def test_the_override_then_the_package_data_then_the_checkout(tmp_path, monkeypatch):
    package = tmp_path / "checkout" / "aishell_runner"
    package.mkdir(parents=True)
    monkeypatch.setattr(paths, "PACKAGE", package)
    monkeypatch.delenv("AISHELL_RUN_HOME", raising=False)
    _layout(tmp_path / "checkout")
    assert paths.install_root() == tmp_path / "checkout"  # editable: the checkout
    _layout(package / "_data")
    assert paths.install_root() == package / "_data"  # the wheel's own copy first
    monkeypatch.setenv("AISHELL_RUN_HOME", str(tmp_path / "elsewhere"))
    assert paths.install_root() == tmp_path / "elsewhere"


def test_a_package_without_its_data_says_what_is_missing_and_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "PACKAGE", tmp_path / "site-packages" / "aishell_runner")
    monkeypatch.delenv("AISHELL_RUN_HOME", raising=False)
    with pytest.raises(AishellError) as raised:
        paths.install_root()
    assert f"{tmp_path}/site-packages/aishell_runner/_data is missing" in raised.value.message
    assert "roles" in raised.value.message and "pipx install" in raised.value.hint


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """`python -m build` as a user runs it (sdist, then the wheel from the sdist), offline."""
    pytest.importorskip("build", reason="the dev extras carry `build`: pip install -e '.[dev]'")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, REPO],
                   check=True, capture_output=True)
    (built,) = out.glob("aishell_runner-*.whl")
    return built


def test_the_wheel_carries_the_roles_playbooks_and_their_plugins(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    wanted = ["ansible.cfg", "inventories/local/hosts.yml"]
    for tree in ("roles", "playbooks"):  # every file, the filter plugins of new roles included
        wanted += [str(path.relative_to(REPO)) for path in (REPO / tree).rglob("*")
                   if path.is_file() and "__pycache__" not in path.parts]
    assert [name for name in wanted if f"aishell_runner/_data/{name}" not in names] == []
    assert any(name.endswith("/filter_plugins/image_inputs.py") for name in names)
    assert not [name for name in names if "__pycache__" in name]


def test_installed_by_pip_outside_the_checkout_it_finds_its_data_or_says_it_is_missing(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    (site,) = (venv / "lib").glob("python3*/site-packages")
    # The dependencies (Ansible and the rest) from the test's own environment, offline, but not its editable
    # aishell_runner: a .pth line only appends that folder, whose own .pth files (the editable finder) no one runs.
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--quiet",
                    "--no-deps", "--no-index", "--disable-pip-version-check", wheel], check=True, capture_output=True)
    env = {key: value for key, value in os.environ.items() if key not in ("AISHELL_RUN_HOME", "PYTHONPATH")}
    probe = ("from aishell_runner import paths; print(paths.install_root()); "
             "print(paths.role_plugin('sandbox_image', 'image_inputs.py').__file__)")
    found = subprocess.run([venv / "bin" / "python", "-c", probe], env=env, cwd=tmp_path, capture_output=True,
                           text=True, check=True).stdout.split()
    data = site / "aishell_runner" / "_data"
    assert found == [str(data), str(data / "roles" / "sandbox_image" / "filter_plugins" / "image_inputs.py")]
    version = subprocess.run([venv / "bin" / "aishell-run", "--version"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, check=True)
    assert version.stdout.strip().endswith(aishell_runner.__version__)

    # Installed without its package data: one message and a hint, no traceback.
    shutil.rmtree(data)
    done = subprocess.run([venv / "bin" / "aishell-run", "--no-color", "plan"], env=env, cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert "playbooks and roles are not installed" in done.stderr and "pipx install" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
