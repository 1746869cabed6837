"""The container_runtime role's gVisor decisions, by real Ansible in check mode (nothing installed here):
where runsc cannot be had nothing is registered and the report says why; once it works, daemon.json and the
containers.conf drop-in name it."""

import pytest

from tests.ansible_helpers import run_play

PLAYBOOK = "tests/playbooks/gvisor_role.yml"


def decide(tmp_path, family: str, gvisor: bool) -> tuple[dict, str]:
    dest = tmp_path / "50-aishell.conf"
    outcome = run_play(PLAYBOOK, tmp_path, extravars={"family": family, "gvisor": gvisor, "dest": str(dest),
                                                      "__container_runtime_gvisor_wrapper": f"{dest}.runsc"},
                       cmdline="--check")
    assert outcome.rc == 0, outcome.failure_messages
    assert outcome.changed() == 1  # only the drop-in rendered into tmp_path
    return outcome.custom_stats["gvisor"], dest.read_text()


@pytest.mark.parametrize("family", ["RedHat", "Archlinux", "Suse"])
def test_a_family_without_a_runsc_package_registers_nothing_and_says_so(tmp_path, family):
    stats, _ = decide(tmp_path, family, gvisor=True)
    decided = stats["decided"]
    assert decided["registered"] is False
    assert decided["reason"] == f"runsc is not available from this distribution's packages ({family})"
    assert decided["daemon_json"] == {"log-level": "warn"}  # the options asked for, nothing added
    assert decided["unverified"] == {"available": False, "reason": decided["reason"]}


def test_not_asked_for_gvisor_registers_nothing(tmp_path):
    stats, _ = decide(tmp_path, "Debian", gvisor=False)
    assert stats["decided"]["registered"] is False
    assert stats["decided"]["reason"] == "not asked for (container_runtime_gvisor: false)"
    assert "runtimes" not in stats["decided"]["daemon_json"]


def test_once_runsc_works_daemon_json_and_the_podman_drop_in_register_it(tmp_path):
    stats, conf = decide(tmp_path, "Debian", gvisor=False)
    registered = stats["registered"]
    # Merged into the options the role writes, so docker.yml's hash-triggered restart applies to it.
    wrapper = f"{tmp_path / '50-aishell.conf'}.runsc"  # the playbook's stand-in for /usr/local/lib/aishell/runsc
    assert registered["daemon_json"] == {"log-level": "warn", "runtimes": {"runsc": {"path": wrapper}}}
    assert registered["unverified"]["available"] is None and "not verified" in registered["unverified"]["reason"]
    tomllib = pytest.importorskip("tomllib")
    parsed = tomllib.loads(conf)
    assert parsed["engine"]["runtimes"] == {"runsc": [wrapper]}
    assert parsed["engine"]["runtime"] == "runc" and parsed["containers"]["default_ulimits"] == ["nofile=20000:20000"]
