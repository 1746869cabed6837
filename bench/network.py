"""Allowlist networking against the engine's open network, in the same run, on Docker and rootless Podman.

Warm `aishell-run exec -- true` with `network.mode: allowlist` against `open`
(target ratio at most 1.2), and the latency one HTTPS request gains through the
egress proxy: a local HTTPS server (a container on the proxy's outbound
network) fetched from an allowlist sandbox through the proxy, and from a
container beside the server directly, each request on a new connection.
The timing itself is bench/network_timer.py, run as the user whose engine it is.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from report import write_section

RUNS = int(os.environ.get("BENCH_RUNS", "10"))
TIMER = (Path(__file__).parent / "network_timer.py").read_text()
ROOTLESS_USER = "aishell-test"
USER_AISHELL_RUN = "/opt/aishell-test/venv/bin/aishell-run"  # installed by tests/provision.yml


def measure(engine: str, as_user: str | None) -> dict:
    if as_user is None:
        argv = [sys.executable, "-c", TIMER, engine, str(Path(sys.executable).parent / "aishell-run"), str(RUNS)]
    else:
        uid = subprocess.run(["id", "-u", as_user], capture_output=True, text=True, check=True).stdout.strip()
        argv = ["su", as_user, "-c", f"cd ~ && XDG_RUNTIME_DIR=/run/user/{uid} /usr/bin/python3 -c "
                f"{shlex.quote(TIMER)} {engine} {USER_AISHELL_RUN} {RUNS}"]
    run = subprocess.run(argv, capture_output=True, text=True)
    if run.returncode != 0:
        raise SystemExit(f"network timing on {engine} failed: {run.stderr.strip()[-800:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    rows = []
    for label, engine, user in (("Docker (root)", "docker", None), ("rootless Podman", "podman", ROOTLESS_USER)):
        t = measure(engine, user)
        rows.append(f"| {label} | {t['open']:.2f} | {t['allowlist']:.2f} | {t['allowlist'] / t['open']:.2f} | "
                    f"{t['direct'] * 1000:.1f} | {t['proxied'] * 1000:.1f} | "
                    f"+{(t['proxied'] - t['direct']) * 1000:.1f} |")
    write_section(
        "network",
        "## Allowlist networking against the open network\n\n"
        f"Warm `aishell-run exec -- true`, median of {RUNS} runs each (interleaved), seconds; target ratio at most "
        "1.2. HTTPS: one GET of a local HTTPS server on a new connection, median of "
        f"{max(RUNS * 2, 20)} after 3 warm-up requests, milliseconds: directly from a container beside the server, "
        "and from an allowlist sandbox through the egress proxy (CONNECT).\n\n"
        "| engine | open s | allowlist s | ratio | HTTPS direct ms | HTTPS through the proxy ms | added ms |\n"
        "| --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows),
    )


if __name__ == "__main__":
    main()
