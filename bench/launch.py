"""A sandbox launch against the bare engine, in the same run.

`aishell-run exec -- true` (warm: plan and images unchanged, so no Ansible)
against `docker run --rm IMAGE true` and `podman run --rm IMAGE true` on the
same image, medians of RUNS runs each; and the cold launch, the first after a
settings change (the sandbox_launch playbook runs).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from report import median, time_command, write_section

RUNS = int(os.environ.get("BENCH_RUNS", "10"))
AISHELL_RUN = str(Path(sys.executable).parent / "aishell-run")
IMAGE = "localhost/aishell-foundation:latest"
CONFIG = "engine: docker\nimage:\n  base_source: debootstrap\nagents:\n  codex: {version: \"\"}\n" \
         "  gemini: {version: \"\"}\n  opencode: {version: \"\"}\n"


def main() -> None:
    project = Path(tempfile.mkdtemp(prefix="aishell-bench-launch-"))
    (project / ".aishell").mkdir()
    config = project / ".aishell" / "config.yaml"
    config.write_text(CONFIG)
    exec_true = [AISHELL_RUN, "exec", "--project", str(project), "--", "true"]
    time_command(exec_true, 1)  # converge: images and launch spec
    warm = median(time_command(exec_true, RUNS))
    docker = median(time_command(["docker", "run", "--rm", IMAGE, "true"], RUNS))
    podman_has_image = subprocess.run(["podman", "image", "exists", IMAGE]).returncode == 0
    podman = median(time_command(["podman", "run", "--rm", IMAGE, "true"], RUNS)) if podman_has_image else None
    colds = []
    for index in range(3):
        config.write_text(CONFIG + f"env: [BENCH_COLD_{index}=1]\n")  # a settings change: a new plan
        colds.extend(time_command(exec_true, 1))
    rows = [
        f"| `aishell-run exec -- true`, warm | {warm:.2f} | {warm / docker:.2f} |",
        f"| `docker run --rm IMAGE true` | {docker:.2f} | 1.00 |",
    ]
    if podman is not None:
        rows.append(f"| `podman run --rm IMAGE true` (rootful) | {podman:.2f} | {podman / docker:.2f} |")
    rows.append(f"| `aishell-run exec -- true`, cold (first after a settings change, median of 3) | "
                f"{median(colds):.2f} | {median(colds) / docker:.2f} |")
    write_section(
        "launch",
        "## Sandbox launch against the bare engine\n\n"
        f"Median of {RUNS} runs each, seconds; ratio to bare `docker run`. Target for the warm launch: at most 1.5.\n"
        "Distrobox is not measured yet (its `create` needs a registry image or one in the rootless user's storage).\n\n"
        "| what | median s | ratio to docker run |\n| --- | --- | --- |\n" + "\n".join(rows),
    )


if __name__ == "__main__":
    main()
