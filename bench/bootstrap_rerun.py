"""Converged re-run of playbooks/bootstrap.yml, and its --check: the no-op path users hit most.

Baseline in the same run: ansible-playbook on an empty play against the same
inventory, i.e. what Ansible itself costs before any of our tasks run.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from report import REPO, median, time_command, write_section

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
BIN = Path(sys.executable).parent
ENV = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "PATH": f"{BIN}:{os.environ['PATH']}"}
CASES = {
    "docker": {"bootstrap_engines": ["docker"]},
    "docker + podman + 1 rootless user": {
        "bootstrap_engines": ["docker", "podman"],
        "container_runtime_rootless_users": ["aishell-test"],
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] + " Rewrites its section of "
                                     "docs/benchmarks.md. Runs the bootstrap on this machine: it must be converged "
                                     "(the first run of each case converges it, and must change nothing there).")
    parser.add_argument("--runs", type=int, default=RUNS, help="timed runs of each case (default: $BENCH_RUNS or 5)")
    runs = parser.parse_args().runs
    load_before = os.getloadavg()[0]
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as empty:
        empty.write("- name: Empty play\n  hosts: all\n  gather_facts: true\n  tasks: []\n")
    playbook = str(BIN / "ansible-playbook")
    baseline = median(time_command([playbook, empty.name], runs, ENV))
    rows = [f"| empty play with fact gathering (baseline) | {baseline:.1f} | 1.0 |"]
    for label, extravars in CASES.items():
        argv = [playbook, "playbooks/bootstrap.yml", "-e", json.dumps(extravars)]
        time_command(argv, 1, ENV)  # converge first, so every timed run is a no-op
        seconds = median(time_command(argv, runs, ENV))
        rows.append(f"| bootstrap.yml, converged, {label} | {seconds:.1f} | {seconds / baseline:.1f} |")
        checked = median(time_command([*argv, "--check"], runs, ENV))
        rows.append(f"| bootstrap.yml --check, converged, {label} | {checked:.1f} | {checked / baseline:.1f} |")
    os.unlink(empty.name)
    write_section(
        "bootstrap-rerun",
        "## Converged re-run of `playbooks/bootstrap.yml`\n\n"
        f"Median of {runs} runs each, in seconds; ratio to Ansible's own start-up with fact gathering, "
        f"measured in the same run (1-minute load average {load_before:.2f} at the start).\n\n"
        "| what | median s | ratio |\n| --- | --- | --- |\n" + "\n".join(rows),
    )


if __name__ == "__main__":
    main()
