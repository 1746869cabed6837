"""Run every benchmark in bench/ and update docs/benchmarks.md."""

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHMARKS = ["bootstrap_rerun.py", "images.py", "launch.py", "network.py", "scan.py", "branches.py", "fleet.py"]

if __name__ == "__main__":
    sys.path.insert(0, str(HERE))  # the benchmarks share bench/report.py
    for name in BENCHMARKS:
        print(f"bench: {name}", flush=True)
        runpy.run_path(str(HERE / name), run_name="__main__")
