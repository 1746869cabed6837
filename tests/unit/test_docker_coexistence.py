"""The docker.service drop-in that puts back the DOCKER-USER rules for Podman's bridges after a reboot.

Rendered by real Ansible; its commands run against a stand-in iptables that records its arguments, and the
rule they add must be the one the role's ansible.builtin.iptables task adds (iptables compares rules by
meaning, not by the order of their options).
"""

import os
import shlex
import subprocess
from collections import defaultdict

import ansible.modules.iptables as iptables_module
import yaml

from tests.ansible_helpers import REPO, run_play

ROLE = REPO / "roles" / "container_runtime"
# Writes each call's arguments, one a line, to RECORD.N, and answers "not there" to -C, so that the command
# goes on to insert the rule.
STAND_IN = """#!/bin/sh
n=$(ls "$RECORD".* 2>/dev/null | wc -l)
printf '%s\\n' "$@" > "$RECORD.$n"
for a in "$@"; do [ "$a" = -C ] && exit 1; done
exit 0
"""


def pairs(arguments: list[str]) -> list[tuple[str, str]]:
    return sorted(zip(arguments[::2], arguments[1::2], strict=True))


def test_the_drop_in_inserts_the_rule_the_role_makes_for_each_bridge_pattern(tmp_path):
    dest = tmp_path / "50-aishell-podman.conf"
    outcome = run_play("tests/playbooks/docker_coexistence_dropin.yml", tmp_path, extravars={"dest": str(dest)})
    assert outcome.rc == 0, outcome.failure_messages
    lines = [line.removeprefix("ExecStartPost=") for line in dest.read_text().splitlines()
             if line.startswith("ExecStartPost=")]
    defaults = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
    comment = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["__container_runtime_coexistence_comment"]
    patterns = defaults["container_runtime_podman_bridge_interfaces"]
    assert len(lines) == len(patterns)

    (tmp_path / "bin").mkdir()
    stand_in = tmp_path / "bin" / "iptables"
    stand_in.write_text(STAND_IN)
    stand_in.chmod(0o755)
    for line, pattern in zip(lines, patterns, strict=True):
        record = tmp_path / f"record-{pattern}"
        argv = shlex.split(line.removeprefix("-"))  # "-": a failure does not fail docker.service
        env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "RECORD": str(record)}
        subprocess.run(argv, env=env, check=True)
        check, insert = [(tmp_path / f"{record.name}.{n}").read_text().splitlines() for n in (0, 1)]
        assert check[:3] == ["-w", "-C", "DOCKER-USER"] and insert[:3] == ["-w", "-I", "DOCKER-USER"]
        assert check[3:] == insert[3:]
        params = defaultdict(lambda: None, chain="DOCKER-USER", in_interface=pattern, out_interface=pattern,
                             jump="ACCEPT", comment=comment, ip_version="ipv4", match=[], ctstate=[])
        assert pairs(insert[3:]) == pairs(iptables_module.construct_rule(params))
