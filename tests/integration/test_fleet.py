"""`aishell-run fleet` against real hosts over real SSH: containers running sshd on a bridge of their own.

Two workstations (Podman, rootless user `dev`) and two CI runners (Docker Engine, no init system), as in
inventories/example-team. The tests run in file order on the same hosts: check mode on fresh hosts,
the first converge, check mode once converged, the team's lock refused by aishell-run's settings loader
on a host, a host made unreachable mid-run and one failing while the others converge, the re-run, and
the sandbox images built ahead on one host.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fleet"))
import hosts as fleet_hosts  # tests/fleet is not a package

REPO = Path(__file__).resolve().parents[2]
POLICY = {
    "network": {"mode": "allowlist", "allow": ["pypi.org"]},
    "exclude": [".env"],
    "locks": {
        "network.mode": {"one_of": ["allowlist", "none"], "reason": "agents reach only the team's allowlist"},
        "exclude": {"at_least": [".env", "*.pem"]},
        "resources.pids": {"at_most": 2048},
    },
}
GROUP_VARS = {
    "workstations": {"fleet_engines": ["podman"], "container_runtime_rootless_users": ["dev"]},
    "ci_runners": {"fleet_engines": ["docker"]},
    "all": {"fleet_settings": POLICY},
}

# The same policy with one more lock: every host has something to change.
STRICTER = {**GROUP_VARS, "all": {"fleet_settings": {
    **POLICY, "locks": {**POLICY["locks"], "security.seccomp": {"value": "default"}}}}}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    with fleet_hosts.fleet(tmp_path_factory.mktemp("fleet"), {"workstations": 2, "ci_runners": 2}, GROUP_VARS) as f:
        yield f


def run_fleet(fleet, tmp_path: Path, *extra: str) -> tuple[int, dict, str]:
    report = tmp_path / "fleet-report.json"
    done = subprocess.run(
        [sys.executable, "-m", "aishell_runner.cli", "fleet", "-i", str(fleet.inventory), "--json",
         "--report", str(report), *extra],
        capture_output=True, text=True, cwd=REPO,
    )
    document = json.loads(done.stdout) if done.stdout.strip() else {}
    assert document.get("hosts"), done.stderr
    assert json.loads(report.read_text())["hosts"] == document["hosts"]  # the file and --json agree
    return done.returncode, document, done.stderr


def settings_file(fleet, host) -> str:
    """The host's system settings layer; "" while it has none (cat then fails, and that is the answer)."""
    return fleet.ssh(host, "cat /etc/aishell/config.yaml 2>/dev/null").stdout


def test_check_mode_on_fresh_hosts_changes_nothing(fleet, tmp_path):
    rc, report, stderr = run_fleet(fleet, tmp_path, "--check")
    assert rc == 0, stderr
    assert report["check"] is True
    assert {info["status"] for info in report["hosts"].values()} == {"ok"}
    assert all(info["changed"] > 0 for info in report["hosts"].values())  # it says what it would do ...
    for host in fleet.hosts:  # ... and does none of it
        assert settings_file(fleet, host) == ""
        assert fleet.ssh(host, "pgrep -x dockerd").returncode == 1
        assert fleet.ssh(host, "test -e /etc/containers/containers.conf.d/50-aishell.conf").returncode == 1
        assert fleet.ssh(host, "test -e /home/dev/.local/share/containers").returncode == 1  # no storage made


def test_every_host_converges_with_its_group_engine_and_the_policy(fleet, tmp_path):
    rc, report, stderr = run_fleet(fleet, tmp_path)
    assert rc == 0, stderr
    for host in fleet.hosts:
        info = report["hosts"][host.name]
        assert info["status"] == "ok" and info["failure"] is None and info["verified"] is True
        if host.group == "workstations":
            assert list(info["engines"]) == ["podman"] and info["engines"]["podman"]["version"].startswith("4.")
            assert info["rootless_users"] == {"dev": {"storage_driver": "overlay", "verified": True, "gvisor": None}}
        else:
            assert list(info["engines"]) == ["docker"] and info["engines"]["docker"]["service"] == "no-init"
            assert fleet.ssh(host, "docker info --format '{{.ServerVersion}}'").stdout.startswith("20.")
        assert sorted(info["settings"]["locks"]) == ["exclude", "network.mode", "resources.pids"]
        assert "network.mode:" in settings_file(fleet, host)
        assert fleet.ssh(host, "stat -c '%U %a' /etc/aishell/config.yaml").stdout.split() == ["root", "644"]


def test_converged_fleet_in_check_mode_has_nothing_to_change(fleet, tmp_path):
    rc, report, stderr = run_fleet(fleet, tmp_path, "--check")
    assert rc == 0, stderr
    assert {host: info["changed"] for host, info in report["hosts"].items()} == {h.name: 0 for h in fleet.hosts}


# Loads the settings for ~/project exactly as aishell-run does, and prints the result or the refusal.
LOAD_SETTINGS = """
import sys
from aishell_runner.settings import SettingsError, load_settings
try:
    settings = load_settings(".")
except SettingsError as error:
    print(error.message)
    sys.exit(error.exit_code)
print(settings.raw["network"]["mode"], settings.exclude, settings.resources.pids)
"""


def test_locked_key_is_refused_by_aishell_run_on_a_host(fleet):
    """aishell-run's own settings loader, run on the host as its developer, against the file fleet.yml wrote."""
    host = next(h for h in fleet.hosts if h.group == "workstations")
    _copy_package(fleet, host, "/opt/aishell-runner")

    def load_as_developer(user_file: str, project_file: str = "") -> subprocess.CompletedProcess:
        files = ("mkdir -p ~/project/.aishell ~/.config/aishell"
                 f" && printf '{user_file}' > ~/.config/aishell/config.yaml"
                 f" && printf '{project_file}' > ~/project/.aishell/config.yaml")
        run = "cd ~/project && PYTHONPATH=/opt/aishell-runner XDG_CACHE_HOME=/tmp/dev-cache python3 -"
        return fleet.ssh(host, f"{files} && {run}", user="dev", stdin=LOAD_SETTINGS)

    loosen = load_as_developer("network:\\n  mode: open\\n")
    assert loosen.returncode == 3, loosen.stdout + loosen.stderr
    assert "config.yaml:2: network.mode: 'open' is refused: /etc/aishell/config.yaml:" in loosen.stdout
    assert "locks network.mode to one of 'allowlist', 'none'" in loosen.stdout
    assert "reason: agents reach only the team's allowlist" in loosen.stdout

    tighten = load_as_developer("network:\\n  mode: none\\n", "exclude: [secrets/]\\n")
    assert tighten.returncode == 0, tighten.stdout + tighten.stderr
    assert tighten.stdout.strip() == "none ('.env', 'secrets/', '*.pem') 2048"


def _copy_package(fleet, host, target: str) -> None:
    """aishell_runner's source beside the image role it reads and the playbooks (which is how an install
    root looks to paths.install_root), onto the host (its Python has PyYAML and jsonschema from Debian)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for part in ("aishell_runner", "roles/sandbox_image", "playbooks"):
            tar.add(REPO / part, arcname=part, filter=lambda info: None if "__pycache__" in info.name else info)
    done = subprocess.run(["ssh", *fleet_hosts.SSH_OPTIONS.split(), "-i", str(fleet.key), f"root@{host.address}",
                           f"mkdir -p {target} && tar -x -C {target} && chmod -R a+rX {target}"],
                          input=buffer.getvalue(), capture_output=True)
    assert done.returncode == 0, done.stderr


def test_unreachable_and_failing_hosts_stop_only_themselves(fleet, tmp_path):
    # One host loses sshd as soon as its new settings are written, with the engine role still ahead of
    # it; another names a user it does not have.
    victim, broken = fleet.hosts[-1], fleet.hosts[1]
    fleet_hosts.write_inventory(fleet.inventory, fleet.hosts, fleet.key, STRICTER,
                                {broken.name: {"container_runtime_rootless_users": ["dev", "nobody-here"]}})
    stopped = threading.Event()

    def cut_when_written() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if "security.seccomp" in victim.sh("cat /etc/aishell/config.yaml", check=False).stdout:
                victim.stop_sshd()
                stopped.set()
                return
            time.sleep(0.2)

    watcher = threading.Thread(target=cut_when_written, daemon=True)
    watcher.start()
    rc, report, stderr = run_fleet(fleet, tmp_path)
    watcher.join(timeout=5)
    assert stopped.is_set()
    assert rc == 1 and "2 of 4 hosts did not converge" in stderr
    lost = report["hosts"][victim.name]
    assert lost["status"] == "unreachable" and lost["failure"]["unreachable"] is True
    assert lost["failure"]["task"] and lost["failure"]["message"]
    failed = report["hosts"][broken.name]
    assert failed["status"] == "failed" and "nobody-here" in failed["failure"]["message"]
    for host in fleet.hosts:
        if host not in (victim, broken):
            assert report["hosts"][host.name]["status"] == "ok"
            assert report["hosts"][host.name]["verified"] is True
            assert "security.seccomp" in settings_file(fleet, host)


def test_rerun_converges_the_hosts_that_failed(fleet, tmp_path):
    fleet_hosts.write_inventory(fleet.inventory, fleet.hosts, fleet.key, STRICTER)
    fleet.hosts[-1].start_sshd()
    rc, report, stderr = run_fleet(fleet, tmp_path)
    assert rc == 0, stderr
    assert {info["status"] for info in report["hosts"].values()} == {"ok"}
    assert all(info["verified"] is True for info in report["hosts"].values())
    assert "security.seccomp" in settings_file(fleet, fleet.hosts[-1])


# The images' inputs come from the team's settings: Claude Code only, the base built with debootstrap
# (no registry here), allowlist networking (so the egress proxy's image too).
IMAGE_POLICY = {**STRICTER["all"]["fleet_settings"], "image": {"base_source": "debootstrap"},
                "agents": {"codex": {"version": ""}, "gemini": {"version": ""}, "opencode": {"version": ""}}}
FOUNDATION, EGRESS = "localhost/aishell-foundation:latest", "localhost/aishell-egress:latest"

# aishell-run's own warm check, on the host, with the settings fleet.yml wrote there: would a launch build?
IMAGES_CURRENT = """
from pathlib import Path
from aishell_runner import images
from aishell_runner.engines.docker import Docker
from aishell_runner.settings import load_settings
wanted = images.settings_with({**images.overrides_for(load_settings(Path("."))), "sandbox_image_engine": "docker"})
print(images.check(Docker(), wanted))
"""


def test_images_built_ahead_are_the_ones_aishell_run_looks_for(fleet, tmp_path):
    runner = next(host for host in fleet.hosts if host.group == "ci_runners")
    fleet_hosts.write_inventory(fleet.inventory, fleet.hosts, fleet.key, STRICTER,
                                {runner.name: {"fleet_build_image": True, "fleet_settings": IMAGE_POLICY}})
    rc, report, stderr = run_fleet(fleet, tmp_path, "--limit", runner.name)
    assert rc == 0, stderr
    built = report["hosts"][runner.name]["images"]
    assert built[FOUNDATION]["built"] is True and built[EGRESS]["built"] is True, built
    assert fleet.ssh(runner, f"docker run --rm {FOUNDATION} claude --version").stdout.startswith("2.1.332")
    assert fleet.ssh(runner, f"docker run --rm {FOUNDATION} sh -c 'command -v codex'").returncode != 0

    _copy_package(fleet, runner, "/opt/aishell-runner")
    check = fleet.ssh(runner, "cd /tmp && PYTHONPATH=/opt/aishell-runner XDG_CACHE_HOME=/tmp/cache python3 -",
                      stdin=IMAGES_CURRENT)
    assert check.stdout.strip() == ("Freshness(foundation_current=True, extension_current=None, "
                                    "egress_current=True)"), check.stdout + check.stderr

    rc, report, stderr = run_fleet(fleet, tmp_path, "--limit", runner.name)  # nothing changed: nothing built
    assert rc == 0, stderr
    again = report["hosts"][runner.name]
    assert again["changed"] == 0 and not any(image["built"] for image in again["images"].values()), again
