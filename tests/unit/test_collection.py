"""The Ansible collection aishell.sandbox (collection/build.py): built offline, installed offline, and its
roles and filters used by their full names from a playbook outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

PLAYBOOK = """
- name: Use aishell.sandbox by full names
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Try aishell-run's package from the controller's Python, outside the collection
      ansible.builtin.command:
        argv: ["{{ ansible_playbook_python }}", -c, import aishell_runner]
      register: package
      changed_when: false
      failed_when: false

    - name: It is not installed there (the collection's filters use their own copy)
      ansible.builtin.assert:
        that: package.rc != 0

    - name: A role's filter, moved to plugins/filter
      ansible.builtin.assert:
        that: "'2GiB' | aishell.sandbox.lima_bytes == 2147483648"

    - name: fleet.yml's image choice, with the collection's own copy of aishell-run's code and roles
      ansible.builtin.assert:
        that:
          - chosen.sandbox_image_base_source == 'debootstrap'
          - not chosen.sandbox_image_egress
          - chosen.sandbox_image_agents.claude is defined
      vars:
        chosen: "{{ {'image': {'base_source': 'debootstrap'}, 'network': {'mode': 'open'}} | to_nice_yaml
                    | aishell.sandbox.aishell_fleet_image_vars }}"

    - name: A policy that keeps its own lock is written
      ansible.builtin.include_role:
        name: aishell.sandbox.system_settings
      vars:
        system_settings_path: "{{ out }}/good/config.yaml"
        system_settings_content: {locks: {resources.pids: {at_most: 10}}, resources: {pids: 5}}

    - name: A policy that contradicts its own lock stops before the host changes
      block:
        - name: Apply it
          ansible.builtin.include_role:
            name: aishell.sandbox.system_settings
          vars:
            system_settings_path: "{{ out }}/bad/config.yaml"
            system_settings_content: {locks: {resources.pids: {at_most: 10}}, resources: {pids: 20}}
      rescue:
        - name: Keep the message
          ansible.builtin.copy:
            content: "{{ ansible_failed_result.msg }}"
            dest: "{{ out }}/refused.txt"
            mode: "0644"
"""


def test_the_collection_builds_installs_and_runs_offline(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ANSIBLE_", "AISHELL_"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    subprocess.run([sys.executable, REPO / "collection" / "build.py", "--output-path", tmp_path / "dist"],
                   check=True, env=env, capture_output=True)
    (tarball,) = (tmp_path / "dist").glob("aishell-sandbox-*.tar.gz")
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    # Every role, and every filter plugin of the roles and the playbooks, whatever new ones appear.
    for role in (REPO / "roles").iterdir():
        assert f"roles/{role.name}/tasks/main.yml" in names
    for plugin in [*REPO.glob("roles/*/filter_plugins/*.py"), *REPO.glob("playbooks/filter_plugins/*.py")]:
        assert f"plugins/filter/{plugin.name}" in names
    assert {"plugins/callback/aishell_fleet_report.py", "playbooks/fleet.yml", "meta/runtime.yml",
            "aishell_runner/settings/locks.py"} <= names

    subprocess.run([BIN / "ansible-galaxy", "collection", "install", "--offline", "-p", tmp_path / "collections",
                    tarball], check=True, env=env, capture_output=True, cwd=tmp_path)
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    # A Python with Ansible and the rest of the test's dependencies but without aishell_runner: a .pth line
    # appends the test's site-packages, whose own .pth files (the editable install's finder) no one runs.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    (site,) = (venv / "lib").glob("python3*/site-packages")
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    playbook = [venv / "bin" / "python", "-m", "ansible.cli.playbook"]
    done = subprocess.run([*playbook, "-i", "localhost,", "play.yml", "-e", f"out={tmp_path / 'out'}"],
                          env={**env, "ANSIBLE_COLLECTIONS_PATH": str(tmp_path / "collections")},
                          capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    written = (tmp_path / "out" / "good" / "config.yaml").read_text()
    assert yaml.safe_load(written) == {"locks": {"resources.pids": {"at_most": 10}}, "resources": {"pids": 5}}
    assert not (tmp_path / "out" / "bad").exists()
    bad = f"localhost:{tmp_path}/out/bad/config.yaml"
    assert (tmp_path / "out" / "refused.txt").read_text() == (
        f"error: {bad}:6: resources.pids: 20 contradicts this file's own lock: {bad}:3 locks resources.pids to at "
        "most 10\nhint: make resources.pids fit the lock, or change the lock")
