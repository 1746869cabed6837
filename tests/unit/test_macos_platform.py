"""aishell-run on macOS: the Lima VM's engine without flags, projects outside its mounts refused, `check` rows.

No Mac runs here: the platform is pretended (sys.platform), the Lima instance
directory is a real one made in tmp_path (lima.yaml as the lima role renders it,
a real unix socket), and `limactl` prints `limactl list --json` lines in Lima's
format (tests/fixtures/lima).
"""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from aishell_runner import cli
from aishell_runner.errors import EXIT_USAGE, UsageError
from aishell_runner.platforms import macos

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "lima"


@pytest.fixture
def mac(monkeypatch):
    """A pretended Mac whose user alice has the lima role's VM `aishell` running rootless Podman.

    In a short directory of its own: a unix socket's path must fit in 108 bytes, and pytest-xdist's workers
    make tmp_path longer."""
    root = Path(tempfile.mkdtemp(prefix="mac-"))
    home = root / "Users" / "alice"
    (home / "src" / "app").mkdir(parents=True)
    instance = home / ".lima" / "aishell"
    (instance / "sock").mkdir(parents=True)
    (instance / "lima.yaml").write_text(
        f"vmType: vz\nmountType: virtiofs\nmounts:\n- location: {home}\n  mountPoint: {home}\n  writable: true\n"
        "- location: /Volumes/readonly\n  writable: false\n")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(instance / "sock" / "podman.sock"))
    monkeypatch.setattr(macos.sys, "platform", "darwin")
    monkeypatch.setenv("LIMA_HOME", str(home / ".lima"))
    monkeypatch.delenv("AISHELL_LIMA_INSTANCE", raising=False)
    for variable in ("DOCKER_HOST", "CONTAINER_HOST"):
        monkeypatch.setenv(variable, "")  # recorded, so that what export_engine_env sets is undone afterwards
        monkeypatch.delenv(variable)
    yield home
    server.close()
    shutil.rmtree(root)


def test_the_vm_podman_socket_becomes_container_host(mac):
    macos.export_engine_env()
    assert macos.os.environ["CONTAINER_HOST"] == f"unix://{mac}/.lima/aishell/sock/podman.sock"
    assert "DOCKER_HOST" not in macos.os.environ  # no docker socket was forwarded


def test_a_container_host_the_user_chose_is_left_alone(mac, monkeypatch):
    monkeypatch.setenv("CONTAINER_HOST", "ssh://core@build-box/run/podman/podman.sock")
    macos.export_engine_env()
    assert macos.os.environ["CONTAINER_HOST"] == "ssh://core@build-box/run/podman/podman.sock"


def test_project_under_the_shared_home_is_accepted(mac):
    macos.require_mounted(mac / "src" / "app", "podman")


def test_project_outside_the_vm_mounts_is_refused_with_the_fix(mac, tmp_path):
    outside = tmp_path / "Volumes" / "work" / "app"
    outside.mkdir(parents=True)
    with pytest.raises(UsageError) as refused:
        macos.require_mounted(outside, "podman")
    assert refused.value.exit_code == EXIT_USAGE
    assert str(outside) in refused.value.message and str(mac) in refused.value.message
    assert "limactl edit aishell --mount DIR:w" in refused.value.hint


def test_read_only_mount_does_not_count_as_shared(mac):
    assert macos.mounted_dirs(macos._config()) == [mac]


def test_plan_outside_the_vm_mounts_exits_2_before_anything_runs(mac, tmp_path, capsys, monkeypatch):
    from aishell_runner.commands import launch
    from aishell_runner.engines.podman import Podman

    monkeypatch.setattr(launch, "choose_engine", lambda _setting: Podman())  # the VM's engine, without a podman here
    outside = tmp_path / "elsewhere"
    (outside / ".aishell").mkdir(parents=True)
    (outside / ".aishell" / "config.yaml").write_text("engine: podman\n")  # the VM's engine
    status = cli.main(["plan", "--json", "--project", str(outside)])
    assert status == EXIT_USAGE
    document = json.loads(capsys.readouterr().out)
    assert "outside the directories the Lima VM aishell shares" in document["error"]


def test_without_the_vm_engine_nothing_is_refused(mac, monkeypatch, tmp_path):
    monkeypatch.setenv("CONTAINER_HOST", "unix:///Users/alice/.local/share/containers/podman/machine/podman.sock")
    macos.require_mounted(tmp_path, "podman")  # the user's own engine: its mounts are not ours to judge


def test_docker_desktop_beside_a_podman_vm_is_not_judged_by_the_vm_mounts(mac, tmp_path):
    macos.export_engine_env()  # CONTAINER_HOST -> the VM; Docker stays on its own default socket
    macos.require_mounted(tmp_path, "docker")


def limactl_printing(tmp_path: Path, monkeypatch, text: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "list.json").write_text(text)
    limactl = bin_dir / "limactl"
    limactl.write_text(f"#!/bin/sh\n[ \"$1 $2\" = 'list --json' ] || exit 64\ncat {bin_dir / 'list.json'}\n")
    limactl.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")


def test_check_reports_the_vm_state_type_and_mount_type(mac, tmp_path, monkeypatch):
    instance = {"name": "aishell", "status": "Running", "dir": f"{mac}/.lima/aishell", "vmType": "vz", "cpus": 4,
                "memory": 8 * 1024**3, "disk": 60 * 1024**3,
                "config": {"mountType": "virtiofs", "mounts": [{"location": str(mac), "writable": True}]}}
    limactl_printing(tmp_path, monkeypatch, json.dumps(instance) + "\n")
    [(what, ok, detail, fix)] = macos.findings()
    assert (what, ok, fix) == ("Lima VM aishell", True, "")
    assert detail.startswith("Running, vmType vz, mountType virtiofs, 4 CPUs, 8 GiB memory")


def test_check_says_how_to_start_a_stopped_vm(mac, tmp_path, monkeypatch):
    recorded = (FIXTURES / "list-aishell-differs.json").read_text().replace('"status":"Running"', '"status":"Stopped"')
    limactl_printing(tmp_path, monkeypatch, recorded)
    [(_what, ok, detail, fix)] = macos.findings()
    assert not ok and "Stopped, vmType qemu, mountType 9p" in detail and fix == "limactl start aishell"


def test_check_says_to_bootstrap_when_the_vm_is_missing(mac, tmp_path, monkeypatch):
    limactl_printing(tmp_path, monkeypatch, "")
    [(_what, ok, detail, fix)] = macos.findings()
    assert not ok and detail == "no such instance" and "bootstrap" in fix


def test_filter_reads_sizes_as_lima_does():
    rules = macos.rules()
    assert rules.lima_bytes("8GiB") == rules.lima_bytes("8G") == rules.lima_bytes("8gb") == 8 * 1024**3
    assert rules.lima_bytes("512MiB") == 512 * 1024**2
    with pytest.raises(ValueError):
        rules.lima_bytes("eight gigs")
