"""A warm launch of this checkout against the same launch of an earlier revision, in one run.

    BENCH_BASELINE=3b6f469 python bench/before_after.py

The baseline is checked out with `git worktree` beside this one and run by the same Python from
its own source; the two `aishell-run exec -- true` (and the bare `docker run`) take turns, so that
a change in the machine's load hits all three alike. The issues' limits ("the warm launch must not
slow down by more than 5 %") are read off the ratio.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from report import REPO, median, time_command, write_section

RUNS = int(os.environ.get("BENCH_RUNS", "15"))
BASELINE = os.environ.get("BENCH_BASELINE", "HEAD~1")
IMAGE = "localhost/aishell-foundation:latest"
# BENCH_NETWORK=open when the two revisions make the egress proxy differently (egress.NETWORK_LAYOUT): they
# would take turns recreating the one proxy they share, and every launch would be cold.
NETWORK = os.environ.get("BENCH_NETWORK", "allowlist")
CONFIG = "engine: docker\nimage:\n  base_source: debootstrap\nagents:\n  codex: {version: \"\"}\n" \
         f"  gemini: {{version: \"\"}}\n  opencode: {{version: \"\"}}\nnetwork: {{mode: {NETWORK}}}\n"
# The CLI of the checkout at SOURCE, started the same way for both (no console script: it would pin one).
RUN_FROM = "import sys; sys.path.insert(0, sys.argv.pop(1)); from aishell_runner.cli import entry; sys.exit(entry())"


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True).stdout.strip()


def main() -> None:
    baseline = git("rev-parse", "--short", BASELINE)
    current = git("rev-parse", "--short", "HEAD") + ("+changes" if git("status", "--porcelain") else "")
    worktree = Path(tempfile.mkdtemp(prefix="aishell-bench-baseline-"))
    project = Path(tempfile.mkdtemp(prefix="aishell-bench-before-after-"))
    (project / ".aishell").mkdir()
    (project / ".aishell" / "config.yaml").write_text(CONFIG)
    git("worktree", "add", "--detach", str(worktree), baseline)
    try:
        commands = {
            f"`aishell-run exec -- true`, warm, at {baseline} (before)": exec_true(worktree, project),
            f"`aishell-run exec -- true`, warm, at {current} (after)": exec_true(REPO, project),
            "`docker run --rm IMAGE true`": ["docker", "run", "--rm", IMAGE, "true"],
        }
        for argv in commands.values():
            time_command(argv, 1)  # converge: images and each revision's launch spec
        load_before = os.getloadavg()
        samples = {what: [] for what in commands}
        for _ in range(RUNS):
            for what, argv in commands.items():
                samples[what] += time_command(argv, 1)
        load_after = os.getloadavg()
    finally:
        git("worktree", "remove", "--force", str(worktree))
    medians = {what: median(times) for what, times in samples.items()}
    before, after, docker = medians.values()
    rows = [f"| {what} | {seconds:.3f} | {seconds / before:.3f} | {seconds / docker:.2f} |"
            for what, seconds in medians.items()]
    write_section(
        "before-after",
        "## Warm launch before and after a change\n\n"
        f"Median of {RUNS} turns, seconds; the three commands take turns in each; network mode {NETWORK}. "
        "Load average (1, 5, 15 min) "
        f"{' '.join(f'{x:.2f}' for x in load_before)} at the start, {' '.join(f'{x:.2f}' for x in load_after)} "
        f"at the end. After/before: **{after / before:.3f}**.\n\n"
        "| what | median s | ratio to before | ratio to docker run |\n| --- | --- | --- | --- |\n" + "\n".join(rows),
    )


def exec_true(source: Path, project: Path) -> list[str]:
    return [sys.executable, "-c", RUN_FROM, str(source), "exec", "--project", str(project), "--", "true"]


if __name__ == "__main__":
    main()
