"""Wall time of playbooks/fleet.yml over SSH for 1, 4 and 8 hosts, and how it grows with hosts and forks.

The hosts are containers on this machine reached over real SSH (tests/fleet/hosts.py), half of them
workstations (rootless Podman for one user) and half CI runners (Docker Engine without an init
system); one host is a CI runner. Their image already holds the engines' packages, so a first run
is everything but the download: settings layer, engine configuration and start, verification.

Baseline in the same run: an empty play with fact gathering over the same hosts, i.e. what Ansible
itself costs to reach them.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from report import REPO, median, time_command, write_section

sys.path.insert(0, str(REPO / "tests" / "fleet"))
import hosts as fleet_hosts  # tests/fleet is not a package

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
SIZES = (1, 4, 8)
FORKS = (1, 4, 10)  # 10 is ansible.cfg's
BIN = Path(sys.executable).parent
POLICY = {
    "network": {"mode": "allowlist", "allow": ["pypi.org"]},
    "exclude": [".env"],
    "locks": {"network.mode": {"one_of": ["allowlist", "none"]}, "resources.pids": {"at_most": 2048}},
}
GROUP_VARS = {
    "workstations": {"fleet_engines": ["podman"], "container_runtime_rootless_users": ["dev"]},
    "ci_runners": {"fleet_engines": ["docker"]},
    "all": {"fleet_settings": POLICY},
}


def _load() -> str:
    return Path("/proc/loadavg").read_text().split()[0]


def groups(size: int) -> dict[str, int]:
    return {"ci_runners": size - size // 2, "workstations": size // 2}


def main() -> None:
    load_before = _load()
    rows, forks_rows = [], []
    with tempfile.TemporaryDirectory(prefix="aishell-bench-fleet-") as scratch:
        empty = Path(scratch) / "empty.yml"
        empty.write_text("- name: Empty play\n  hosts: all\n  gather_facts: true\n  tasks: []\n")
        for size in SIZES:
            workdir = Path(scratch) / f"hosts-{size}"
            workdir.mkdir()
            with fleet_hosts.fleet(workdir, groups(size), GROUP_VARS) as fleet:
                env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "PATH": f"{BIN}:{os.environ['PATH']}",
                       "AISHELL_FLEET_REPORT": str(workdir / "fleet-report.json")}
                playbook = [str(BIN / "ansible-playbook"), "-i", str(fleet.inventory)]
                baseline = median(time_command([*playbook, str(empty)], RUNS, env))
                first = time_command([*playbook, "playbooks/fleet.yml"], 1, env)[0]
                rerun = median(time_command([*playbook, "playbooks/fleet.yml"], RUNS, env))
                rows.append(f"| {size} | {first:.1f} | {rerun:.1f} | {baseline:.1f} | {rerun / baseline:.1f} "
                            f"| {_load()} |")
                if size == SIZES[-1]:
                    for forks in FORKS:
                        seconds = median(time_command([*playbook, "--forks", str(forks), "playbooks/fleet.yml"],
                                                      max(1, RUNS - 1), env))
                        forks_rows.append(f"| {forks} | {seconds:.1f} | {_load()} |")
    load_after = _load()
    reruns = [float(row.split("|")[3]) for row in rows]
    steps = zip(zip(SIZES, reruns, strict=True), zip(SIZES[1:], reruns[1:], strict=True), strict=False)
    growth = "; ".join(f"{small} to {large} hosts: {(slow - fast) / (large - small):.1f} s"
                       for (small, fast), (large, slow) in steps)
    write_section(
        "fleet",
        "## Fleet setup: `playbooks/fleet.yml` over SSH\n\n"
        "Test hosts are containers on this machine reached over real SSH (`tests/fleet/hosts.py`): half "
        "workstations (rootless Podman for one user), half CI runners (Docker Engine without an init system); "
        "the single host is a CI runner. Their image holds the engines' packages already, so the first run "
        "is everything but the download (settings layer, engine configuration and start, verification). "
        f"Seconds; re-runs and the baseline are medians of {RUNS} runs, first runs one run on fresh hosts. "
        "Baseline: an empty play with fact gathering over the same hosts.\n\n"
        "The load column is the 1-minute load average right after the row was measured: this machine is shared, "
        "and rows measured under a higher load are slower for it (the first runs, one sample each, most).\n\n"
        "| hosts | first run | converged re-run | baseline | re-run / baseline | load |\n"
        "| --- | --- | --- | --- | --- | --- |\n"
        + "\n".join(rows)
        + f"\n\nGrowth of the converged re-run per added host, {growth} (forks 10; on 2 cores Ansible's workers "
        "and the hosts' own engines share the CPUs, so the load climbs with the hosts).\n\n"
        f"Converged re-run of {SIZES[-1]} hosts by `--forks` (median of {max(1, RUNS - 1)}):\n\n"
        "| forks | seconds | load |\n| --- | --- | --- |\n" + "\n".join(forks_rows)
        + f"\n\nLoad average (1 min) before and after: {load_before} and {load_after} "
        "(other work shares this machine).",
    )


if __name__ == "__main__":
    main()
