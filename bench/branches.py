"""A session on an agent branch (`--branch NAME`) against a plain launch, on a generated 100,000-file repository.

In one run, on one tree (bench/scan.py's): a plain warm `exec -- true`; `exec --branch NEW -- true` on a new
branch each time (a git worktree is checked out, then a first launch of that worktree); the same branch
resumed (warm); and `git worktree add` alone, which is what the new branch's checkout costs by itself.

    python bench/branches.py [--files N] [--runs N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from report import clock, median, write_section
from scan import make_project

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
CONFIG = ("engine: docker\nimage:\n  base_source: debootstrap\nagents:\n  codex: {version: \"\"}\n"
          "  gemini: {version: \"\"}\n  opencode: {version: \"\"}\nscan: {content: false}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aishell-bench-branches-") as scratch:
        root, state = Path(scratch) / "tree", Path(scratch) / "state"
        root.mkdir()
        make_project(root, args.files, CONFIG, "branches")
        env = {**os.environ, "XDG_STATE_HOME": str(state)}
        aishell = [sys.executable, "-m", "aishell_runner.cli", "exec", "--project", str(root), "--accept-findings"]
        clock([*aishell, "--", "true"], env)  # converge: images, the proxy, the main tree's launch spec
        clock([*aishell, "--branch", "warmup", "--", "true"], env)
        samples: dict[str, list[float]] = {"plain": [], "new": [], "resumed": [], "worktree add": []}
        for run in range(args.runs):
            samples["plain"].append(clock([*aishell, "--", "true"], env))
            samples["new"].append(clock([*aishell, "--branch", f"new-{run}", "--", "true"], env))
            samples["resumed"].append(clock([*aishell, "--branch", f"new-{run}", "--", "true"], env))
            scratch_tree = Path(scratch) / f"bare-{run}"
            samples["worktree add"].append(
                clock(["git", "-C", str(root), "worktree", "add", "-q", "-b", f"bare-{run}", str(scratch_tree)], env))
        load = os.getloadavg()
    plain = median(samples["plain"])
    labels = {
        "plain": "`exec -- true`, warm, on the main tree",
        "new": "`exec --branch NEW -- true`: worktree checked out, first launch of it",
        "resumed": "`exec --branch NAME -- true` again: the branch resumed, warm",
        "worktree add": "`git worktree add -b NAME PATH` alone",
    }
    rows = [f"| {labels[key]} | {median(values):.2f} | {median(values) / plain:.2f} |"
            for key, values in samples.items()]
    write_section(
        "branches",
        f"## Agent branches on a {args.files:,}-file repository\n\n"
        f"Median of {args.runs} runs each, seconds, on one generated tree (bench/scan.py's, content scan off); "
        "the plain launch as the yardstick. Load average "
        f"{' '.join(f'{x:.2f}' for x in load)} at the end.\n\n"
        "| what | median s | ratio to plain |\n| --- | --- | --- |\n" + "\n".join(rows),
    )


if __name__ == "__main__":
    main()
