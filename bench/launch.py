"""A sandbox launch against the bare engine, in the same run.

`aishell-run exec -- true` (warm: plan and images unchanged, so no Ansible;
through the user's prefork server, as by default, and once more each command
in its own process, AISHELL_RUN_SERVER=off) against `docker run --rm IMAGE
true` on the same image, taken in turns, medians of RUNS runs each, in ROUNDS
rounds a few minutes apart (each ratio counts, not the best one), with the
machine's load; then another command on the same plan (`exec -- true` then
`exec -- env`: warm too), the cold launch (the first after a settings change:
the sandbox_launch playbook runs), the warm launch on a generated 100,000-file
git repository (bench/scan.py's), where the launch's time goes (pyinstrument,
one warm launch in-process), and the same as the rootless test user on
rootless Podman, next to `distrobox enter NAME -- true` (Distrobox from
Debian's packages, its container made once beforehand).

    python bench/launch.py [--rounds N] [--pause SECONDS] [--files N]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import installed_aishell_run, median, time_command, write_section
from scan import make_project

from aishell_runner.paths import state_dir

RUNS = int(os.environ.get("BENCH_RUNS", "10"))
# aishell-run as users install it (report.installed_aishell_run); set by main(), this venv's until then.
AISHELL_RUN = str(Path(sys.executable).parent / "aishell-run")
IMAGE = "localhost/aishell-foundation:latest"
CONFIG = "engine: docker\nimage:\n  base_source: debootstrap\nagents:\n  codex: {version: \"\"}\n" \
         "  gemini: {version: \"\"}\n  opencode: {version: \"\"}\n"
# [2.6]'s targets: ratios to the bare engine.
WARM_TARGET, ROOTLESS_TARGET, LARGE_TARGET, COLD_TARGET = 1.25, 1.3, 1.4, 3.0
ROOTLESS_ROUNDS = 3  # rounds of the rootless rows (rootless_rows)
COLD_RUNS = 5  # each a settings change: a new plan


def new_project(config: str = CONFIG) -> Path:
    project = Path(tempfile.mkdtemp(prefix="aishell-bench-launch-"))
    (project / ".aishell").mkdir()
    (project / ".aishell" / "config.yaml").write_text(config)
    return project


def exec_argv(project: Path, *command: str, accept: bool = False) -> list[str]:
    accepting = ["--accept-findings"] if accept else []
    return [AISHELL_RUN, "exec", "--project", str(project), *accepting, "--", *(command or ["true"])]


def in_turns(first: list[str], second: list[str], runs: int) -> tuple[float, float]:
    """Medians of `first` and `second`, run one after the other `runs` times (a busy moment hits both)."""
    samples: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        samples[0].extend(time_command(first, 1))
        samples[1].extend(time_command(second, 1))
    return median(samples[0]), median(samples[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", "5")),
                        help="rounds of the warm comparison (default 5, $BENCH_ROUNDS)")
    parser.add_argument("--pause", type=float, default=120.0, help="seconds between rounds (default 120)")
    parser.add_argument("--files", type=int, default=100_000,
                        help="files of the large repository (default 100000; 0 leaves it out)")
    args = parser.parse_args()
    global AISHELL_RUN
    AISHELL_RUN = installed_aishell_run()
    project = new_project()
    docker_true = ["docker", "run", "--rm", IMAGE, "true"]
    time_command(exec_argv(project), 1)  # converge: images and launch spec
    rounds = []
    for index in range(args.rounds):
        if index:
            time.sleep(args.pause)
        warm, docker = in_turns(exec_argv(project), docker_true, RUNS)
        rounds.append((warm, docker, os.getloadavg()[0]))
        print(f"launch: round {index + 1}: warm {warm:.3f} s, docker run {docker:.3f} s, "
              f"{warm / docker:.2f}x", flush=True)
    warm, docker = median([r[0] for r in rounds]), median([r[1] for r in rounds])
    another, _ = in_turns(exec_argv(project, "env"), exec_argv(project), RUNS)
    alone, alone_docker = in_turns(["env", "AISHELL_RUN_SERVER=off", *exec_argv(project)], docker_true, RUNS)
    flags = median(time_command(sandbox_flags_argv(project), RUNS))
    config = project / ".aishell" / "config.yaml"
    colds = []
    for index in range(COLD_RUNS):
        config.write_text(CONFIG + f"env: [BENCH_COLD_{index}=1]\n")  # a settings change: a new plan
        colds.extend(time_command(exec_argv(project), 1))
    cold = median(colds)
    ratios = [r[0] / r[1] for r in rounds]
    rows = [
        f"| `aishell-run exec -- true`, warm (median of the {len(rounds)} rounds' medians) | {warm:.3f} | "
        f"{warm / docker:.2f} | {max(ratios):.2f} at most | {'yes' if max(ratios) <= WARM_TARGET else 'no'} |",
        f"| `docker run --rm IMAGE true` | {docker:.3f} | 1.00 | - | - |",
        f"| `exec -- env` after `exec -- true` (another command, the same plan) | {another:.3f} | "
        f"{another / docker:.2f} | warm | {'yes' if another / docker <= WARM_TARGET else 'no'} |",
        f"| `aishell-run exec -- true`, warm, the command in its own process (`AISHELL_RUN_SERVER=off`; ratio to "
        f"`docker run` taken in turns with it, {alone_docker:.3f} s) | {alone:.3f} | {alone / alone_docker:.2f} | - "
        "| - |",
        f"| `docker run` with the sandbox's flags, mounts and limits, `true` (the engine's share) | {flags:.3f} | "
        f"{flags / docker:.2f} | - | - |",
        f"| `aishell-run exec -- true`, cold (first after a settings change, median of {COLD_RUNS}, load "
        f"{os.getloadavg()[0]:.2f}) | {cold:.3f} | {cold / docker:.2f} | < {COLD_TARGET:g} s | "
        f"{'yes' if cold < COLD_TARGET else 'no'} |",
    ]
    if args.files:
        rows.append(large_repository_row(args.files, docker_true))
    rows += rootless_rows()
    per_round = "; ".join(f"{w / d:.2f} (load {load:.2f})" for w, d, load in rounds)
    write_section(
        "launch",
        "## Sandbox launch against the bare engine\n\n"
        f"Seconds, medians of {RUNS} runs each, ours (aishell-run installed from its wheel, as users have it, its "
        f"commands run by the user's prefork server unless said) and "
        f"the bare engine taken in turns; ratio to bare `docker "
        f"run` (the rootless rows: to the test user's own bare `podman run`, timed by that user, with the wheel "
        f"installed in a virtual environment of its own). The warm "
        f"comparison ran in {len(rounds)} rounds {args.pause:g} s apart; each round's ratio, with the 1-minute "
        f"load average at its end: {per_round}.\n\n"
        "| what | median s | ratio | target | met |\n| --- | --- | --- | --- | --- |\n" + "\n".join(rows)
        + "\n\n" + profile_breakdown(project),
    )


def large_repository_row(files: int, docker_true: list[str]) -> str:
    """The warm launch on a generated git repository of `files` files (its first launch scans it cold)."""
    project = Path(tempfile.mkdtemp(prefix="aishell-bench-launch-"))
    make_project(project, files, CONFIG, "launch")  # with its planted secrets: the launch is told to accept them
    time_command(exec_argv(project, accept=True), 1)  # the first launch: its cold content scan
    warm, docker = in_turns(exec_argv(project, accept=True), docker_true, RUNS)
    ratio = warm / docker
    return (f"| `aishell-run exec -- true`, warm, on a {files:,}-file git repository (content scan on) | "
            f"{warm:.3f} | {ratio:.2f} | {LARGE_TARGET:g} | {'yes' if ratio <= LARGE_TARGET else 'no'} |")


def profile_breakdown(project: Path) -> str:
    """Where one warm launch's time goes: pyinstrument around the CLI run in this process (so Python's start
    and the imports are timed apart, in a fresh interpreter)."""
    from pyinstrument import Profiler

    from aishell_runner import cli

    cli.main(["exec", "--project", str(project), "--", "true"])  # warm the plan after the cold rounds
    profiler = Profiler(interval=0.0005)
    profiler.start()
    cli.main(["exec", "--project", str(project), "--", "true"])
    profiler.stop()
    wanted = {"load_settings": "settings (cached parse)", "excluded_paths": "`exclude:` from the walk",
              "review": "the sensitive-file scan", "check": "images current? (one question to the engine)",
              "proxy_running": "the proxy's state (beside the images')", "run_session": "the engine's `run`",
              "prepare": "the plan, in all"}
    totals: dict[str, float] = dict.fromkeys(wanted, 0.0)

    def visit(frame, inside: frozenset) -> None:
        name = frame.function
        if name in wanted and name not in inside:
            totals[name] += frame.time
            inside = inside | {name}
        for child in frame.children:
            visit(child, inside)

    visit(profiler.last_session.root_frame(), frozenset())
    total = profiler.last_session.duration
    python = str(Path(AISHELL_RUN).parent / "python")  # the wheel's: this checkout's editable install adds its hook
    # -I: the wheel's modules, not this checkout's (time_command runs in it, and `-c` puts it first on sys.path);
    # the cycle collector off, as cli.entry has it.
    ours = "import gc; gc.disable(); import aishell_runner.cli, aishell_runner.commands.launch"
    bare = median(time_command([python, "-I", "-c", "pass"], 5))
    imports = median(time_command([python, "-I", "-c", ours], 5)) - bare
    parts = "; ".join(f"{what} {totals[name] * 1000:.0f} ms" for name, what in wanted.items())
    return (f"Where one warm launch's time goes (pyinstrument, in-process, {total * 1000:.0f} ms in all): {parts}. "
            f"Without the prefork server, a new interpreter spends {imports * 1000:.0f} ms before that importing "
            "aishell-run's modules (beside Python's own start); with it, the client imports none.")


def sandbox_flags_argv(project: Path) -> list[str]:
    """The engine command line the last launch on `project` ran (flags, mounts, limits), running `true`."""
    specs = [path for path in (state_dir() / "launch").glob("*/*.json") if str(project) in path.read_text()]
    spec = json.loads(max(specs, key=lambda path: path.stat().st_mtime).read_text())
    # As a session builds it (session.py), without the session's own name and terminal.
    env = [option for name in spec["env"] for option in ("--env", name)]
    return [spec["engine"], "run", *spec["options"], *env, spec["image"], "true"]


ROOTLESS_USER = "aishell-test"
# The test user's environment (tests/provision.yml): its interpreter and dependencies, under our wheel.
USER_PYTHON, USER_DEPS = "/usr/bin/python3", "/opt/aishell-test/venv/bin/python"
DISTROBOX = "aishell-bench"
USER_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games"  # /etc/login.defs ENV_PATH: a user's login PATH
# Run by the test user's /usr/bin/python3 (it cannot read this checkout): times the commands in turns, prints
# JSON medians.
USER_TIMER = """
import json, os, statistics, subprocess, sys, tempfile, time
runs, image, aishell, box = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
project = tempfile.mkdtemp(prefix="aishell-bench-", dir=os.path.expanduser("~"))
os.makedirs(project + "/.aishell")
with open(project + "/.aishell/config.yaml", "w") as config:
    config.write(sys.stdin.read())
def sandbox_flags_argv(project, image):
    # The engine command line the last launch on `project` ran (flags, mounts, limits), running `true`.
    import glob
    specs = [path for path in glob.glob(os.path.expanduser("~/.local/state/aishell/launch/*/*.json"))
             if project in open(path).read()]
    spec = json.load(open(max(specs, key=os.path.getmtime)))
    env = [option for name in spec["env"] for option in ("--env", name)]
    return [spec["engine"], "run", *spec["options"], *env, spec["image"], "true"]
def timed(argv, n):
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=project)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)
timed([aishell, "exec", "--", "true"], 1)  # converge: images (the box's too, on a fresh machine) and launch spec
def made_box():
    subprocess.run(["distrobox", "create", "--yes", "-n", box, "-i", image], capture_output=True, check=True)
    timed(["distrobox", "enter", box, "--", "true"], 1)  # its first enter sets the container up
if subprocess.run(["podman", "container", "exists", box]).returncode:  # kept from an earlier run otherwise
    made_box()
elif subprocess.run(["distrobox", "enter", box, "--", "true"], capture_output=True).returncode:
    # Kept, but it does not start (left "Stopping" by a restart of the machine): made anew.
    subprocess.run(["podman", "rm", "--force", box], capture_output=True, check=True)
    made_box()
commands = {"aishell": [aishell, "exec", "--", "true"], "flags": sandbox_flags_argv(project, image),
            "podman": ["podman", "run", "--rm", image, "true"], "distrobox": ["distrobox", "enter", box, "--", "true"]}
samples = {key: [] for key in commands}
for _ in range(runs):  # in turns: a busy moment hits each command
    for key, argv in commands.items():
        samples[key].append(timed(argv, 1))
print(json.dumps({key: statistics.median(values) for key, values in samples.items()}))
"""


def rootless_rows(rounds: int = ROOTLESS_ROUNDS) -> list[str]:
    """The rootless rows, timed by the test user in `rounds` rounds (each its RUNS runs in turns): rootless Podman's
    own start swings from round to round (0.22 to 0.25 s here), so one round's ratio says little."""
    user_aishell_run = installed_aishell_run(USER_PYTHON, USER_DEPS)  # as the test user would install it
    uid = subprocess.run(["id", "-u", ROOTLESS_USER], capture_output=True, text=True, check=True).stdout.strip()
    timed: list[dict[str, float]] = []
    for _ in range(rounds):
        run = subprocess.run(
            # The user's own PATH, not root's (su keeps the caller's): every command looked up would first try
            # root's folders, which the user cannot open.
            ["su", ROOTLESS_USER, "-c", f"cd ~ && PATH={USER_PATH} XDG_RUNTIME_DIR=/run/user/{uid} /usr/bin/python3 "
             f"-c {shlex.quote(USER_TIMER)} {RUNS} {IMAGE} {user_aishell_run} {DISTROBOX}"],
            input=CONFIG.replace("engine: docker", "engine: podman"), capture_output=True, text=True,
        )
        if run.returncode != 0:
            raise SystemExit(f"rootless timing failed: {run.stderr.strip()[-500:]}")
        timed.append({**json.loads(run.stdout), "load": os.getloadavg()[0]})
    times = {key: median([round_[key] for round_ in timed]) for key in ("aishell", "podman", "flags", "distrobox")}
    ratios = [round_["aishell"] / round_["podman"] for round_ in timed]
    ratio, podman = median(ratios), times["podman"]
    each = ", ".join(f"{r:.2f} (load {round_['load']:.2f})" for r, round_ in zip(ratios, timed, strict=True))
    return [
        f"| rootless: `aishell-run exec -- true`, warm (median of {rounds} rounds' ratios: {each}) | "
        f"{times['aishell']:.2f} | {ratio:.2f} (to rootless podman run) | {ROOTLESS_TARGET:g} | "
        f"{'yes' if ratio <= ROOTLESS_TARGET else 'no'} |",
        f"| rootless: `podman run --rm IMAGE true` | {podman:.2f} | 1.00 (to rootless podman run) | - | - |",
        f"| rootless: `podman run` with the sandbox's flags, mounts and limits, `true` | {times['flags']:.2f} | "
        f"{times['flags'] / podman:.2f} (to rootless podman run) | - | - |",
        f"| rootless: `distrobox enter {DISTROBOX} -- true` (container already running) | {times['distrobox']:.2f} | "
        f"{times['distrobox'] / podman:.2f} (to rootless podman run) | - | - |",
    ]


if __name__ == "__main__":
    main()
