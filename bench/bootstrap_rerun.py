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
    # Rounds that run every row once, so that the baseline and each case meet the same load (others' tests share
    # this machine: a baseline timed apart, minutes before or after, can move every ratio by a few tenths).
    rows = {"empty play with fact gathering (baseline)": [playbook, empty.name]}
    for label, extravars in CASES.items():
        argv = [playbook, "playbooks/bootstrap.yml", "-e", json.dumps(extravars)]
        time_command(argv, 1, ENV)  # converge first, so every timed run is a no-op
        rows[f"bootstrap.yml, converged, {label}"] = argv
        rows[f"bootstrap.yml --check, converged, {label}"] = [*argv, "--check"]
    samples: dict[str, list[float]] = {what: [] for what in rows}
    for _ in range(runs):
        for what, argv in rows.items():
            samples[what] += time_command(argv, 1, ENV)
    medians = {what: median(seconds) for what, seconds in samples.items()}
    baseline = medians["empty play with fact gathering (baseline)"]
    os.unlink(empty.name)
    write_section(
        "bootstrap-rerun",
        "## Converged re-run of `playbooks/bootstrap.yml`\n\n"
        f"Median of {runs} runs each, in seconds, in {runs} rounds that run each row once; ratio to Ansible's own "
        f"start-up with fact gathering, measured in the same rounds (1-minute load average {load_before:.2f} at the "
        "start).\n\n"
        "| what | median s | ratio |\n| --- | --- | --- |\n"
        + "\n".join(f"| {what} | {seconds:.1f} | {seconds / baseline:.1f} |" for what, seconds in medians.items()),
    )


if __name__ == "__main__":
    main()
