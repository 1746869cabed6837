"""Shared helpers for benchmarks: timing and writing results into docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "docs" / "benchmarks.md"
HEADER = """# Benchmarks

Written by the scripts in `bench/` (`make bench`); each section is replaced
when its benchmark runs again. Times are wall-clock medians of several runs on
the machine named in the section, our command and its baseline measured in
the same run.
"""


def time_command(argv: Sequence[str], runs: int, env: dict | None = None) -> list[float]:
    """Wall-clock seconds of `runs` runs of argv; any failure aborts the benchmark."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=REPO)
        samples.append(time.perf_counter() - start)
    return samples


def clock(argv: Sequence[str], env: dict[str, str]) -> float:
    """Wall-clock seconds of one run of argv with `env`; a failure aborts the benchmark."""
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def machine() -> str:
    return f"{platform.node()} ({platform.machine()}, {_cores()} cores, Python {platform.python_version()})"


def _cores() -> int:
    return os.cpu_count() or 0


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section `name` of docs/benchmarks.md."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    section = f"{begin}\n{body.rstrip()}\n\n_Measured {stamp} on {machine()}; load average {load} at the end._\n{end}"
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    if begin in text and end in text:
        before, rest = text.split(begin, 1)
        text = before + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    RESULTS.write_text(text)


def installed_aishell_run(base: str | None = None, deps_from: str | None = None) -> str:
    """aishell-run as users have it, a wheel installed, for the launch benchmarks: this checkout's editable
    install (`make`'s .venv) adds an import hook that every start pays (about 10 ms). The wheel goes into a
    virtual environment of its own, made from the interpreter `base`, which takes its dependencies from the
    site-packages of the interpreter `deps_from` (a .pth line: the editable install's own .pth there is not read).
    Both default to this one; the rootless rows give the test user's (it cannot read root's), and everything is
    left readable to all."""
    import shutil
    import sys
    import tempfile

    base, deps_from = base or sys.executable, deps_from or sys.executable
    where = Path(tempfile.mkdtemp(prefix="aishell-bench-wheel-"))
    # Built from a copy: setuptools leaves build/ in the tree it builds, and takes stale files from it next time.
    shutil.copytree(REPO, where / "src", ignore=shutil.ignore_patterns(
        ".git", ".venv", ".cache", "build", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(where / "dist"), str(where / "src")], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([base, "-m", "venv", "--without-pip", str(where / "venv")], check=True)
    python = where / "venv" / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    deps = subprocess.run([deps_from, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "aishell-bench-deps.pth").write_text(deps + "\n")
    for script in Path(deps_from).parent.iterdir():  # ansible-playbook and the other dependencies' commands
        if script.name != "aishell-run" and not (where / "venv" / "bin" / script.name).exists():
            (where / "venv" / "bin" / script.name).symlink_to(script)
    (wheel,) = (where / "dist").glob("*.whl")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--no-index", "--no-compile", str(wheel)], check=True, stdout=subprocess.DEVNULL)
    # Compiled by the interpreter that runs it (pip's own would do for root; the test user cannot write caches).
    subprocess.run([python, "-m", "compileall", "-q", site], check=True, stdout=subprocess.DEVNULL)
    for directory, _, files in os.walk(where):
        for name in [directory, *(os.path.join(directory, file) for file in files)]:
            if not os.path.islink(name):
                os.chmod(name, os.stat(name).st_mode | 0o444 | (0o111 if os.path.isdir(name) else 0))
    return str(where / "venv" / "bin" / "aishell-run")
