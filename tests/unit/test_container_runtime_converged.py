"""The container_runtime role's converged path: what lets it skip work must see every change that matters.

files/verify_state.sh decides whether a verification container runs again (a target whose state hash is the
one recorded when it last passed is not run); filter_plugins/ini_lines.py whether ini_file must run on a
rootless user's storage.conf. Both run here for real, on made-up homes and records (no engine is asked:
without a docker or podman command the image cannot be read, which must never match a record).
"""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest

ROLE = Path(__file__).resolve().parents[2] / "roles" / "container_runtime"
_spec = importlib.util.spec_from_file_location("ini_lines", ROLE / "filter_plugins" / "ini_lines.py")
ini_lines = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ini_lines)

IMAGE = "localhost/aishell-verify:busybox"


def state(tmp_path: Path, *users: str, engine: str = "podman", context: str = "gvisor=False",
          path: str = "/usr/bin:/bin") -> dict[str, tuple[str, str]]:
    """Each target's (state hash, record) as verify.yml reads them."""
    records = tmp_path / "records"
    records.mkdir(exist_ok=True)
    out = subprocess.run(
        ["sh", "-c", (ROLE / "files" / "verify_state.sh").read_text(), "verify-state", engine, IMAGE,
         str(records), "sh busybox", context, *users],
        capture_output=True, text=True, check=True, env={**os.environ, "PATH": path},
    ).stdout
    return {name: (digest, record) for name, digest, record in (line.split() for line in out.splitlines())}


def home_with_images(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    (home / ".config" / "containers").mkdir(parents=True)
    (home / ".config" / "containers" / "storage.conf").write_text('[storage]\ndriver = "overlay"\n')
    store = home / ".local" / "share" / "containers" / "storage" / "overlay-images"
    store.mkdir(parents=True)
    (store / "images.json").write_text('[{"id": "abc", "names": ["localhost/aishell-verify:busybox"]}]')
    return home


def test_an_unchanged_user_has_the_same_state_and_its_record_is_read(tmp_path):
    home = home_with_images(tmp_path)
    user = f"alice:{os.getuid()}:{home}"
    first = state(tmp_path, user)["podman-user-alice"]
    assert first[1] == "-"  # no record yet
    (tmp_path / "records" / "podman-user-alice.json").write_text(json.dumps({"state": first[0], "gvisor": None}))
    again = state(tmp_path, user)["podman-user-alice"]
    assert again[0] == first[0]
    assert json.loads(base64.b64decode(again[1]))["state"] == first[0]


@pytest.mark.parametrize("change", ["storage.conf", "containers.conf", "images", "context"])
def test_what_the_users_verification_depends_on_changes_its_state(tmp_path, change):
    home = home_with_images(tmp_path)
    user = f"alice:{os.getuid()}:{home}"
    before = state(tmp_path, user)["podman-user-alice"][0]
    context = "gvisor=False"
    if change == "storage.conf":
        (home / ".config" / "containers" / "storage.conf").write_text('[storage]\ndriver = "vfs"\n')
    elif change == "containers.conf":
        (home / ".config" / "containers" / "containers.conf").write_text("[engine]\n")
    elif change == "images":
        (home / ".local/share/containers/storage/overlay-images/images.json").write_text("[]")
    else:
        context = "gvisor=True"
    assert state(tmp_path, user, context=context)["podman-user-alice"][0] != before


def test_a_user_without_an_image_store_never_matches(tmp_path):
    home = home_with_images(tmp_path)
    (home / ".local/share/containers/storage/overlay-images/images.json").unlink()
    user = f"alice:{os.getuid()}:{home}"
    assert state(tmp_path, user)["podman-user-alice"][0] != state(tmp_path, user)["podman-user-alice"][0]


@pytest.mark.parametrize("engine", ["docker", "podman"])
def test_an_engine_whose_image_cannot_be_read_never_matches(tmp_path, engine):
    # No docker or podman command on this PATH: the image's id is unknown, as for a deleted image.
    (tmp_path / "bin").mkdir()
    for tool in ("sh", "cat", "cut", "sha256sum", "base64", "stat", "grep", "printf"):
        found = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        if found.startswith("/"):
            (tmp_path / "bin" / tool).symlink_to(found)
    path = str(tmp_path / "bin")
    assert state(tmp_path, engine=engine, path=path)[engine][0] != state(tmp_path, engine=engine, path=path)[engine][0]


@pytest.mark.parametrize(("content", "expected"), [
    ('[storage]\ndriver = "overlay"\n', True),
    ('# mine\n[storage]\ndriver = "overlay"\nrootless_storage_path = "x"\n', True),
    ('[storage]\ndriver = "vfs"\n', False),
    ('[storage]\ndriver="overlay"\n', False),  # ini_file would respace it
    ('[storage]\ndriver = "overlay"\ndriver = "vfs"\n', False),  # ini_file keeps one
    ('[storage]\ndriver = "overlay"\n[storage]\n', False),
    ('[other]\ndriver = "overlay"\n', False),
    ("", False),
])
def test_ini_has_line_says_yes_only_where_ini_file_would_change_nothing(content, expected):
    assert ini_lines.ini_has_line(content, "storage", "driver", '"overlay"') is expected


# tasks/rootless_check.yml: in a later run of the role in a play, one command as the connecting user looks up the
# rootless users, asks which of the engine's packages are installed and, where a Podman run has rootless users,
# which UID Ansible connects as (rootless_user.yml acts as each user from that: no run_as_user, whose two module
# runs a user were most of a converged re-run's cost for the user). Run by real Ansible, in check mode.
LOOKUP_PLAY = """
- name: Look up as a later run of the role does
  hosts: localhost
  gather_facts: true
  vars:
    container_runtime_engine: "{{ engine }}"
    container_runtime_rootless_users: "{{ users }}"
  tasks:
    - name: Pretend an earlier run of the role in this play
      ansible.builtin.set_fact:
        __container_runtime_has_systemd: false
        __container_runtime_host_packages: {}
    - name: Run the role's engine selection
      ansible.builtin.include_role: {name: container_runtime, tasks_from: select.yml, public: true}
    - name: Run the role's lookup
      ansible.builtin.include_role: {name: container_runtime, tasks_from: rootless_check.yml, public: true}
    - name: Publish it
      ansible.builtin.set_stats:
        data:
          lookup:
            passwd: "{{ __container_runtime_rootless_passwd }}"
            connection_uid: "{{ __container_runtime_connection_uid }}"
            packages: "{{ __container_runtime_host_packages }}"
            ran: "{{ __container_runtime_host_lookup is not skipped }}"
"""


def lookup(tmp_path: Path, engine: str, users: list[str]):
    from tests.ansible_helpers import run_play

    playbook = tmp_path / "lookup.yml"
    playbook.write_text(LOOKUP_PLAY)
    return run_play(str(playbook), tmp_path, extravars={"engine": engine, "users": users}, cmdline="--check")


def test_a_later_podman_run_reads_the_users_the_connecting_uid_and_the_packages_in_one_command(tmp_path):
    outcome = lookup(tmp_path, "podman", ["root"])
    assert outcome.rc == 0, outcome.failure_messages
    found = outcome.custom_stats["lookup"]
    assert found["ran"] is True
    assert [entry[:3] + entry[5:6] for entry in found["passwd"]] == [["root", "x", "0", "/root"]]
    assert found["connection_uid"] == str(os.getuid())
    assert "podman" in found["packages"]["asked"] and "python3-apt" in found["packages"]["asked"]
    # dpkg-query's answer on each package asked: NAME STATUS (installed, not-installed, ...), or its complaint.
    assert found["packages"]["lines"] and all(" " in line for line in found["packages"]["lines"])
    assert outcome.changed() == 0


def test_a_docker_run_asks_for_no_connecting_uid(tmp_path):
    outcome = lookup(tmp_path, "docker", ["root"])
    assert outcome.rc == 0, outcome.failure_messages
    found = outcome.custom_stats["lookup"]
    assert found["connection_uid"] == "" and [entry[0] for entry in found["passwd"]] == ["root"]


def test_a_missing_rootless_user_stops_the_run_naming_it(tmp_path):
    outcome = lookup(tmp_path, "podman", ["root", "no-such-user-aishell"])
    assert outcome.rc != 0
    message = " ".join(outcome.failure_messages)
    assert "no-such-user-aishell" in message and "do not exist" in message


# tasks/host_facts.yml: where the role's first run in a play is Docker's, the host probe also reads what
# docker.yml's first command reads (docker.yml uses it where nothing can have changed since). Its answer must
# be that command's, and the host's other conditions must still parse around it. Run by real Ansible, in
# check mode (no verification state is read then).
PROBE_PLAY = """
- name: Probe the host as the role's first run does
  hosts: localhost
  gather_facts: true
  vars:
    container_runtime_engine: "{{ engine }}"
    container_runtime_rootless_users: [root]
  tasks:
    - name: Run the role's engine selection
      ansible.builtin.include_role: {name: container_runtime, tasks_from: select.yml, public: true}
    - name: Run the role's host probe
      ansible.builtin.include_role: {name: container_runtime, tasks_from: host_facts.yml, public: true}
    - name: Read as docker.yml's own command does
      ansible.builtin.command:
        argv: >-
          {{ ['sh', '-c', __container_runtime_docker_read_script, 'read-docker-config',
              'gvisor=' ~ (__container_runtime_gvisor_earlier | bool)] + __container_runtime_docker_read_files }}
      register: own_read
      changed_when: false
      check_mode: false
    - name: Publish it
      ansible.builtin.set_stats:
        data:
          probe:
            early: "{{ __container_runtime_docker_early }}"
            own: "{{ own_read.stdout_lines }}"
            limits: "{{ __container_runtime_hard_limits }}"
            entries: "{{ __container_runtime_rootless_entries }}"
            packages: "{{ __container_runtime_host_packages }}"
"""


def probe(tmp_path: Path, engine: str):
    from tests.ansible_helpers import run_play

    playbook = tmp_path / "probe.yml"
    playbook.write_text(PROBE_PLAY)
    return run_play(str(playbook), tmp_path, extravars={"engine": engine}, cmdline="--check")


def test_the_host_probe_of_a_docker_run_also_reads_what_docker_yml_reads(tmp_path):
    outcome = probe(tmp_path, "docker")
    assert outcome.rc == 0, outcome.failure_messages
    found = outcome.custom_stats["probe"]
    early, own = found["early"], found["own"]
    # 3 files of 2 lines, the daemon's answer, the clock, dockerd's age, the verification's line, coexistence.
    assert len(early) >= 11
    # The same answer as docker.yml's own command, but for the clock and dockerd's age read a moment later.
    assert early[:7] + early[9:] == own[:7] + own[9:]
    assert early[9] == ""  # check mode: no verification state
    assert early[10] in ("coexistence", "no-coexistence")
    # The host's other conditions still parse: the limits, root's passwd entry, dpkg's answer.
    assert all(value == "unlimited" or value.isdigit() for value in found["limits"].values())
    assert [entry.split(":")[0] for entry in found["entries"]] == ["root"]
    assert found["packages"]["lines"] and all(" " in line for line in found["packages"]["lines"])
    assert "==docker" not in found["packages"]["lines"]
    assert outcome.changed() == 0


def test_the_host_probe_of_a_podman_run_reads_nothing_of_docker(tmp_path):
    outcome = probe(tmp_path, "podman")
    assert outcome.rc == 0, outcome.failure_messages
    found = outcome.custom_stats["probe"]
    assert found["early"] is None
    assert [entry.split(":")[0] for entry in found["entries"]] == ["root"]
