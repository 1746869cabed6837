"""Loading and merging the three settings layers, as a warm launch does, at this checkout and an earlier one.

    BENCH_BASELINE=c15f4ea python bench/settings_load.py

The baseline is checked out with `git worktree` beside this one. Each revision is timed in its own fresh
interpreters, taking turns: the import of the settings code with the first load (what every launch pays)
and, in one process, the later loads with the parse cache warm. The three layers are real files: a system
layer with a lock, a user layer and a project layer in aishell's own forms where the baseline reads them.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from report import REPO, write_section

RUNS = int(os.environ.get("BENCH_RUNS", "15"))
BASELINE = os.environ.get("BENCH_BASELINE", "HEAD~1")
USER = "agents:\n  claude: {version: \"2.1.332\", args: [\"--verbose\"]}\nnetwork:\n  allow: [example.com]\n"
PROJECT = ("engine: docker\nmounts: [\"/tmp:/data:ro\"]\nenv: [\"DEBUG=1\", \"GITHUB_TOKEN\"]\n"
           "resources: {cpus: 2, memory: 4g}\nexclude: [.env, secrets/]\npre_start: [\"echo ready\"]\n")
# Prints the first load's seconds (import included), then the median of 50 warm loads.
PROBE = """
import sys, time, statistics
start = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from pathlib import Path
from aishell_runner.settings import load_settings
project = Path(sys.argv[2])
load_settings(project)
first = time.perf_counter() - start
warm = []
for _ in range(50):
    start = time.perf_counter()
    load_settings(project)
    warm.append(time.perf_counter() - start)
print(first, statistics.median(warm))
"""


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout.strip()


def probe(source: Path, project: Path, env: dict[str, str]) -> tuple[float, float]:
    run = subprocess.run([sys.executable, "-c", PROBE, str(source), str(project)], capture_output=True, text=True,
                         check=True, env=env)
    first, warm = run.stdout.split()
    return float(first), float(warm)


def main() -> None:
    baseline = git("rev-parse", "--short", BASELINE)
    current = git("rev-parse", "--short", "HEAD") + ("+changes" if git("status", "--porcelain") else "")
    scratch = Path(tempfile.mkdtemp(prefix="aishell-bench-settings-"))
    worktree = scratch / "baseline"
    project = scratch / "project"
    (project / ".aishell").mkdir(parents=True)
    (project / ".aishell" / "config.yaml").write_text(PROJECT)
    (scratch / "config" / "aishell").mkdir(parents=True)
    (scratch / "config" / "aishell" / "config.yaml").write_text(USER)
    # The real system layer is /etc/aishell/config.yaml: whatever this machine has there is read by both.
    env = {**os.environ, "XDG_CONFIG_HOME": str(scratch / "config"), "XDG_CACHE_HOME": str(scratch / "cache")}
    git("worktree", "add", "--detach", str(worktree), baseline)
    try:
        revisions = {f"{baseline} (before)": worktree, f"{current} (after)": REPO}
        samples: dict[str, list[tuple[float, float]]] = {what: [] for what in revisions}
        for source in revisions.values():
            probe(source, project, env)  # the parse cache filled, the bytecode compiled
        for _ in range(RUNS):
            for what, source in revisions.items():
                samples[what].append(probe(source, project, env))
        load = os.getloadavg()
    finally:
        git("worktree", "remove", "--force", str(worktree))
    rows = []
    medians = {what: (statistics.median(s[0] for s in runs), statistics.median(s[1] for s in runs))
               for what, runs in samples.items()}
    (first_before, warm_before), (first_after, warm_after) = medians.values()
    for what, (first, warm) in medians.items():
        rows.append(f"| {what} | {first * 1000:.1f} | {warm * 1000:.2f} |")
    write_section(
        "settings-load",
        "## Loading the settings layers before and after a change\n\n"
        f"Median of {RUNS} fresh interpreters per revision, taking turns; a project layer, a user layer and "
        "this machine's system layer. First load: import of the settings code and one load (what each launch "
        "pays), ms; warm: the median of 50 later loads in the same process (parse cache warm), ms. "
        f"After/before: first load **{first_after / first_before:.2f}**, warm **{warm_after / warm_before:.2f}**. "
        f"Load average {' '.join(f'{x:.2f}' for x in load)} at the end.\n\n"
        "| revision | first load ms | warm load ms |\n| --- | --- | --- |\n" + "\n".join(rows),
    )


if __name__ == "__main__":
    main()
