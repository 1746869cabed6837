"""The same sandboxes under runc and under gVisor's runsc (`security.runtime`), on a generated 100,000-file repository.

In one run, on one tree (bench/scan.py's), for each runtime: a warm `exec -- true` (the launch itself), `exec --
git status` (a walk of the whole tree through the sandbox's file system: gVisor's gofer on runsc) and `exec --
sh -c 'tar -cf - src | gzip -6 >/dev/null'` (a short compression run: reads, then CPU). Each command's own
cost inside is its median less the warm `true`'s. The runtime is chosen in the user settings layer, so the
project, its settings and its images are the same for both. runsc must be registered with the engine first
(`sudo aishell-run bootstrap --gvisor`); the numbers are what `security.runtime: auto` would cost where it
picks runsc. Not in bench/run.py's list: it needs that bootstrap, which `make bench` does not do.

    python bench/gvisor.py [--files N] [--runs N] [--engine docker|podman]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from report import clock, median, write_section
from scan import make_project

RUNS = int(os.environ.get("BENCH_RUNS", "5"))
RUNTIMES = ("runc", "runsc")
CONFIG = ("engine: {engine}\nimage:\n  base_source: debootstrap\nagents:\n  codex: {{version: \"\"}}\n"
          "  gemini: {{version: \"\"}}\n  opencode: {{version: \"\"}}\nscan: {{content: false}}\n"
          "network: {{mode: none}}\n")
COMMANDS = {
    "true": ["true"],
    "git status": ["git", "status", "--porcelain"],
    "compression": ["sh", "-c", "tar -cf - src | gzip -6 > /dev/null"],
}
LABELS = {
    "true": "`exec -- true`, warm",
    "git status": "`exec -- git status` on the tree",
    "compression": "`exec -- sh -c 'tar -cf - src \\| gzip -6 >/dev/null'`",  # \| a table cell's own |
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--engine", choices=["docker", "podman"], default="docker")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aishell-bench-gvisor-") as scratch:
        root, state = Path(scratch) / "tree", Path(scratch) / "state"
        root.mkdir()
        make_project(root, args.files, CONFIG.format(engine=args.engine), "gvisor")
        aishell = [sys.executable, "-m", "aishell_runner.cli", "exec", "--project", str(root), "--accept-findings"]
        envs = {}
        for runtime in RUNTIMES:  # the runtime in a user settings layer of its own; the rest is shared
            config = Path(scratch) / f"config-{runtime}"
            (config / "aishell").mkdir(parents=True)
            (config / "aishell" / "config.yaml").write_text(f"security: {{runtime: {runtime}}}\n")
            envs[runtime] = {**os.environ, "XDG_STATE_HOME": str(state), "XDG_CONFIG_HOME": str(config)}
            # Converge (images, launch spec); runsc not registered stops here with aishell-run's own message.
            run = subprocess.run([*aishell, "--", "true"], env=envs[runtime], capture_output=True, text=True)
            if run.returncode != 0:
                raise SystemExit(f"gvisor: a launch under {runtime} failed: {run.stderr.strip()[-600:]}")
        samples = {(runtime, what): [] for runtime in RUNTIMES for what in COMMANDS}
        for _ in range(args.runs):  # interleaved, so that a change in the machine's load meets both runtimes
            for runtime in RUNTIMES:
                for what, command in COMMANDS.items():
                    samples[runtime, what].append(clock([*aishell, "--", *command], envs[runtime]))
    medians = {key: median(values) for key, values in samples.items()}
    rows = []
    for what in COMMANDS:
        runc, runsc = medians["runc", what], medians["runsc", what]
        if what == "true":
            rows.append(f"| {LABELS[what]} | {runc:.2f} | {runsc:.2f} | {runsc / runc:.2f} |")
            continue
        inside_runc, inside_runsc = runc - medians["runc", "true"], runsc - medians["runsc", "true"]
        ratio = f"{inside_runsc / inside_runc:.2f}" if inside_runc > 0.005 else "-"
        rows.append(f"| {LABELS[what]} | {runc:.2f} ({inside_runc:.2f} inside) | {runsc:.2f} "
                    f"({inside_runsc:.2f} inside) | {ratio} (inside) |")
    write_section(
        "gvisor",
        f"## gVisor (runsc) against runc, on a {args.files:,}-file repository ({args.engine})\n\n"
        f"Median of {args.runs} runs each, seconds, interleaved, on one generated tree (bench/scan.py's, content "
        "scan off, `network: {mode: none}`); the runtime set in the user settings layer, everything else the "
        "same. \"Inside\" is a command's median less the warm `true`'s of the same runtime: what the work itself "
        "cost in the sandbox.\n\n"
        "| what | runc s | runsc s | ratio runsc/runc |\n| --- | --- | --- | --- |\n" + "\n".join(rows),
    )


if __name__ == "__main__":
    main()
