"""Sandbox images: cold foundation build (offline base), warm no-change check, image sizes.

Baseline for the warm check in the same run: a bare `docker image inspect`,
the least any check of an image can cost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from report import median, time_command, write_section

RUNS = int(os.environ.get("BENCH_RUNS", "10"))
AISHELL_RUN = str(Path(sys.executable).parent / "aishell-run")
FOUNDATION = "localhost/aishell-foundation:latest"
OFFLINE = ["--base-source", "debootstrap"]
NO_AGENTS = ["--agent", "claude=", "--agent", "codex=", "--agent", "gemini=", "--agent", "opencode="]


def build(project: str, *flags: str) -> dict:
    run = subprocess.run([AISHELL_RUN, "build", "--json", *OFFLINE, *flags], cwd=project,
                         capture_output=True, text=True, check=True)
    return json.loads(run.stdout)["images"][0]


def main() -> None:
    project = tempfile.mkdtemp(prefix="aishell-bench-")
    # Cold: no foundation and no layer cache; the offline base is imported once and kept.
    subprocess.run(["docker", "image", "rm", "-f", FOUNDATION], capture_output=True)  # unchecked: may be absent
    subprocess.run(["docker", "image", "prune", "-f"], capture_output=True, check=True)
    cold = time_command([AISHELL_RUN, "build", *OFFLINE], 1)[0]
    full = build(project)
    warm = median(time_command([AISHELL_RUN, "build", *OFFLINE], RUNS))
    bare = median(time_command(["docker", "image", "inspect", FOUNDATION], RUNS))
    bare_agents = build(project, *NO_AGENTS)
    build(project)  # leave the default foundation behind
    mb = 1e6
    write_section(
        "images",
        "## Sandbox images (Docker, offline debootstrap base)\n\n"
        "| what | result |\n| --- | --- |\n"
        f"| cold build of the foundation, all four agent CLIs, no layer cache | {cold:.0f} s |\n"
        f"| warm `aishell-run build` with nothing to do (median of {RUNS}) | {warm:.2f} s |\n"
        f"| bare `docker image inspect` (median of {RUNS}) | {bare:.3f} s |\n"
        f"| warm check / bare inspect | {warm / bare:.1f}x |\n"
        f"| foundation size with Claude Code, Codex, Gemini CLI, OpenCode | {full['size_bytes'] / mb:.0f} MB |\n"
        f"| foundation size without agent CLIs | {bare_agents['size_bytes'] / mb:.0f} MB |\n",
    )


if __name__ == "__main__":
    main()
