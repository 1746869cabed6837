"""The lima role for macOS, checked here by real Ansible with Darwin facts (no Mac can run in CI).

A test `brew` (tests/fixtures/lima/brew) answers `brew info` as Homebrew does;
`limactl`, where a test needs one, prints `limactl list --json` lines written
in the format of Lima's limatype.Instance (tests/fixtures/lima/*.json).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.ansible_helpers import REPO, run_play

FIXTURES = REPO / "tests" / "fixtures" / "lima"
SCHEMA = json.loads((FIXTURES / "lima-yaml.schema.json").read_text())


def homebrew(tmp_path: Path, limactl_output: str | None = None) -> Path:
    """A Homebrew bin directory: the test brew, and a limactl printing `limactl_output` when given."""
    bin_dir = tmp_path / "homebrew-bin"
    bin_dir.mkdir()
    shutil.copy(FIXTURES / "brew", bin_dir / "brew")
    if limactl_output is not None:
        (bin_dir / "limactl.out").write_text(limactl_output)
        limactl = bin_dir / "limactl"
        limactl.write_text(f"#!/bin/sh\n[ \"$1 $2\" = 'list --json' ] || exit 64\ncat {bin_dir / 'limactl.out'}\n")
        limactl.chmod(0o755)
    return bin_dir


def mac(tmp_path: Path, *, check: bool = True, macos: str = "14.5", **extra):
    home = tmp_path / "Users" / "alice"
    home.mkdir(parents=True, exist_ok=True)
    # A small disk unless a test says otherwise: the free-space check must not depend on this machine's disk.
    extravars = {"macos_version": macos, "home": str(home), "lima_disk": "1GiB",
                 "lima_homebrew_path": str(extra.pop("brew_dir", None) or homebrew(tmp_path)), **extra}
    return run_play("tests/playbooks/lima_darwin.yml", tmp_path, extravars=extravars,
                    cmdline="--check" if check else "")


def rendered(tmp_path: Path, **extra) -> dict:
    extra.setdefault("lima_disk", "60GiB")  # the role's default; rendering alone checks no free space
    outcome = mac(tmp_path, check=False, lima_tasks="template.yml", **extra)
    assert outcome.rc == 0, outcome.failure_messages
    return yaml.safe_load(Path(outcome.custom_stats["lima_resolved"]["template"]).read_text())


def test_template_on_macos_14_uses_vz_and_virtiofs_and_is_valid_for_lima(tmp_path):
    template = rendered(tmp_path)
    jsonschema.validate(template, SCHEMA)
    assert (template["vmType"], template["mountType"]) == ("vz", "virtiofs")
    home = str(tmp_path / "Users" / "alice")
    assert template["mounts"] == [{"location": home, "mountPoint": home, "writable": True}]
    assert (template["cpus"], template["memory"], template["disk"]) == (4, "8GiB", "60GiB")
    assert template["containerd"] == {"system": False, "user": False}


def test_template_on_macos_12_falls_back_to_qemu_with_9p(tmp_path):
    template = rendered(tmp_path, macos="12.7.4")
    jsonschema.validate(template, SCHEMA)
    assert (template["vmType"], template["mountType"]) == ("qemu", "9p")


@pytest.mark.parametrize(("engine", "guest_socket"), [("podman", "/run/user/{{.UID}}/podman/podman.sock"),
                                                      ("docker", "/run/user/{{.UID}}/docker.sock")])
def test_template_provisions_the_rootless_engine_and_forwards_its_socket(tmp_path, engine, guest_socket):
    template = rendered(tmp_path, lima_engine=engine, lima_cpus=6, lima_memory="12GiB",
                        lima_extra_mounts=["/Volumes/src"], lima_ca_files=["/Users/alice/corp-ca.pem"])
    jsonschema.validate(template, SCHEMA)
    assert template["portForwards"] == [{"guestSocket": guest_socket, "hostSocket": f"{{{{.Dir}}}}/sock/{engine}.sock"}]
    scripts = "\n".join(step["script"] for step in template["provision"])
    assert "apt-get install" in scripts and ("dockerd-rootless-setuptool.sh install" in scripts if engine == "docker"
                                             else "systemctl --user enable --now podman.socket" in scripts)
    assert {"location": "/Volumes/src", "mountPoint": "/Volumes/src", "writable": True} in template["mounts"]
    assert (template["cpus"], template["memory"]) == (6, "12GiB")
    assert template["caCerts"] == {"files": ["/Users/alice/corp-ca.pem"]}


def test_schema_catches_a_misspelt_field_and_a_wrong_type():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"images": [{"location": "x"}], "mountTyp": "virtiofs"}, SCHEMA)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"images": [{"location": "x"}], "cpus": "four"}, SCHEMA)


@pytest.mark.parametrize("engine", ["podman", "docker"])
def test_check_mode_on_a_fresh_mac_would_install_and_create_and_changes_nothing(tmp_path, engine):
    outcome = mac(tmp_path, lima_engine=engine)
    assert outcome.rc == 0, outcome.failure_messages
    assert outcome.changed() >= 1  # Homebrew would install lima and podman
    assert not (tmp_path / "Users" / "alice" / ".config").exists()
    report = outcome.custom_stats["aishell_bootstrap"]["localhost"]
    assert report["lima"]["vm_type"] == "vz" and report["lima"]["mount_type"] == "virtiofs"
    assert report["engines"][engine]["verified"] is None


def test_homebrew_missing_is_refused_before_any_change(tmp_path):
    empty = tmp_path / "no-brew"
    empty.mkdir()
    outcome = mac(tmp_path, brew_dir=empty)
    assert outcome.rc != 0
    message = " ".join(outcome.failure_messages)
    assert "Homebrew is missing" in message and "https://brew.sh" in message
    assert outcome.changed() == 0


def test_unsupported_macos_is_refused(tmp_path):
    outcome = mac(tmp_path, macos="11.7")
    assert outcome.rc != 0
    assert "needs macOS 12.0 or later" in " ".join(outcome.failure_messages)
    assert outcome.changed() == 0


def test_insufficient_disk_is_refused_before_any_change(tmp_path):
    outcome = mac(tmp_path, lima_disk="9000TiB")
    assert outcome.rc != 0
    message = " ".join(outcome.failure_messages)
    assert "can grow to 9000TiB" in message and "lima_disk" in message
    assert outcome.changed() == 0


def test_same_name_with_another_configuration_is_reported_with_the_difference_not_recreated(tmp_path):
    home = tmp_path / "Users" / "alice"
    recorded = (FIXTURES / "list-aishell-differs.json").read_text().replace("/Users/alice", str(home))
    outcome = mac(tmp_path, brew_dir=homebrew(tmp_path, limactl_output=recorded))
    assert outcome.rc != 0
    message = " ".join(outcome.failure_messages)
    for difference in ("vmType is qemu, wanted vz", "cpus is 2, wanted 4", "memory is 4GiB, wanted 8GiB",
                       "mountType is 9p, wanted virtiofs", f"{home} is mounted read-only",
                       "no podman socket is forwarded"):
        assert difference in message
    assert "limactl delete aishell" in message


def test_running_instance_with_the_same_configuration_is_left_alone(tmp_path):
    home = tmp_path / "Users" / "alice"
    same = {"name": "aishell", "status": "Running", "dir": f"{home}/.lima/aishell", "vmType": "vz", "cpus": 4,
            "memory": 8 * 1024**3, "disk": 60 * 1024**3,
            "config": {"mountType": "virtiofs", "mounts": [{"location": str(home), "mountPoint": str(home),
                                                            "writable": True}],
                       "portForwards": [{"guestSocket": "/run/user/501/podman/podman.sock",
                                         "hostSocket": f"{home}/.lima/aishell/sock/podman.sock"}]}}
    (home / ".lima" / "aishell").mkdir(parents=True)
    (home / ".lima" / "aishell" / "lima.yaml").write_text("vmType: vz\n")  # Lima's copy: the VM exists
    outcome = mac(tmp_path, lima_disk="60GiB", brew_dir=homebrew(tmp_path, limactl_output=json.dumps(same) + "\n"))
    assert outcome.rc == 0, outcome.failure_messages
    assert outcome.custom_stats["lima_resolved"]["state"]["status"] == "Running"


@pytest.mark.parametrize(("engines", "engine"), [(["docker"], "docker"), (["auto"], "podman")])
def test_bootstrap_playbook_picks_the_lima_role_on_darwin(tmp_path, monkeypatch, engines, engine):
    home = tmp_path / "Users" / "alice"
    home.mkdir(parents=True)
    monkeypatch.setenv("ANSIBLE_LIBRARY", str(REPO / "tests" / "library"))
    monkeypatch.setenv("AISHELL_PRETEND_FACTS", json.dumps({
        "system": "Darwin", "os_family": "Darwin", "distribution": "MacOSX", "distribution_version": "15.1",
        "user_dir": str(home), "user_uid": 501, "architecture": "x86_64"}))
    outcome = run_play("playbooks/bootstrap.yml", tmp_path, cmdline="--check", extravars={
        "ansible_facts_modules": ["ansible.builtin.setup", "pretend_facts"],
        "bootstrap_engines": engines, "lima_homebrew_path": str(homebrew(tmp_path)), "lima_disk": "1GiB"})
    assert outcome.rc == 0, outcome.failure_messages
    report = outcome.custom_stats["aishell_bootstrap"]["localhost"]
    assert report["lima"] == {"instance": "aishell", "vm_type": "vz", "mount_type": "virtiofs",
                              "socket": f"{home}/.lima/aishell/sock/{engine}.sock",
                              "template": f"{home}/.config/aishell/lima/aishell.yaml"}
    assert list(report["engines"]) == [engine]


def test_bootstrap_on_darwin_refuses_two_engines(tmp_path, monkeypatch):
    monkeypatch.setenv("ANSIBLE_LIBRARY", str(REPO / "tests" / "library"))
    monkeypatch.setenv("AISHELL_PRETEND_FACTS", json.dumps({"system": "Darwin", "distribution_version": "15.1"}))
    outcome = run_play("playbooks/bootstrap.yml", tmp_path, cmdline="--check", extravars={
        "ansible_facts_modules": ["ansible.builtin.setup", "pretend_facts"],
        "bootstrap_engines": ["docker", "podman"]})
    assert outcome.rc != 0
    assert "one engine runs in the Lima VM" in " ".join(outcome.failure_messages)
    assert outcome.changed() == 0
