"""The credential broker's cost, in the same run as its baseline (issue [2.2], Measure).

1. One API request from inside a sandbox: through the egress proxy and the broker (HTTPS to
   api.anthropic.com, the real key put in, sent to the agents.claude.upstream stand-in) against the proxy alone
   (plain HTTP to the same stand-in, named by network.internal_hosts). Each a new connection (curl), as a
   client without keep-alive pays it; medians and 95th percentiles of RUNS requests, interleaved.
2. `claude -p` in a sandbox (allowlist network, the broker in its path) against the same command in a bare
   `docker run` container of the same image talking to the stand-in directly.

The stand-in (tests/standins/anthropic_api.py) runs in a container on the proxy's outbound network: the
proxy never reaches this machine's own addresses, internal hosts or not. Docker only.
"""

from __future__ import annotations

import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from report import REPO, median, write_section

RUNS = int(os.environ.get("BENCH_RUNS", "40"))
CLAUDE_RUNS = int(os.environ.get("BENCH_CLAUDE_RUNS", "5"))
AISHELL_RUN = str(Path(sys.executable).parent / "aishell-run")
IMAGE = "localhost/aishell-foundation:latest"
KEY = "sk-ant-api03-" + "b" * 80
BODY = '{"model":"claude-sonnet-4-5","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}'


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    project = Path(tempfile.mkdtemp(prefix="aishell-bench-broker-project-"))
    (project / ".aishell").mkdir()
    (project / ".aishell" / "config.yaml").write_text(
        "engine: docker\nimage:\n  base_source: debootstrap\nnetwork:\n  allow: [standin.internal]\n")
    config_home = Path(tempfile.mkdtemp(prefix="aishell-bench-broker-config-"))
    (config_home / "aishell").mkdir()
    env = {**os.environ, "XDG_CONFIG_HOME": str(config_home), "ANTHROPIC_API_KEY": KEY}
    exec_true = [AISHELL_RUN, "exec", "--project", str(project), "--", "true"]
    subprocess.run(exec_true, env=env, check=True, capture_output=True)  # the proxy and its networks
    network = f"aishell-egress-{os.getuid()}"
    port = 8080
    standin = subprocess.run(
        ["docker", "run", "-d", "--rm", "--network", network, "-v", f"{REPO / 'tests' / 'standins'}:/standins:ro",
         IMAGE, "python3", "/standins/anthropic_api.py", "--host", "0.0.0.0", "--port", str(port),
         "--log", "/tmp/requests.jsonl"], check=True, capture_output=True, text=True).stdout.strip()
    try:
        address = subprocess.run(["docker", "inspect", "--format", "{{range .NetworkSettings.Networks}}"
                                  "{{.IPAddress}}{{end}}", standin], check=True, capture_output=True,
                                 text=True).stdout.strip()
        (config_home / "aishell" / "config.yaml").write_text(
            f"agents:\n  claude:\n    upstream: http://{address}:{port}\n"
            f"network:\n  internal_hosts:\n    standin.internal: {address}\n")
        rows = measure(project, env, port, standin, address)
    finally:
        subprocess.run(["docker", "rm", "-f", standin], capture_output=True)
        (config_home / "aishell" / "config.yaml").unlink()
        subprocess.run(exec_true, env=env, check=True, capture_output=True)  # the proxy as it was
    print("\n".join(rows))


def measure(project: Path, env: dict, port: int, standin: str, address: str) -> list[str]:
    curl = ("curl -sS -o /dev/null -w '%{time_total}\\n' -H \"x-api-key: $ANTHROPIC_API_KEY\" "
            f"-H 'content-type: application/json' -d {shlex.quote(BODY)}")
    script = (f"for i in $(seq {RUNS + 3}); do "
              f"echo plain $({curl} http://standin.internal:{port}/v1/messages); "
              f"echo broker $({curl} https://api.anthropic.com/v1/messages); done")
    run = subprocess.run([AISHELL_RUN, "exec", "--project", str(project), "--", "bash", "-c", script],
                         env=env, capture_output=True, text=True, check=True)
    samples: dict[str, list[float]] = {"plain": [], "broker": []}
    for line in run.stdout.split("\n"):
        kind, _, seconds = line.partition(" ")
        if kind in samples:
            samples[kind].append(float(seconds))
    for kind in samples:
        if len(samples[kind]) != RUNS + 3:
            raise SystemExit(f"{kind}: {len(samples[kind])} answers of {RUNS + 3}: {run.stdout[-2000:]}")
        samples[kind] = samples[kind][3:]  # the first ones make the broker's certificate and warm squid up
    log = subprocess.run(["docker", "exec", standin, "cat", "/tmp/requests.jsonl"], check=True,
                         capture_output=True, text=True).stdout
    calls = [json.loads(line) for line in log.splitlines()]
    if not any(call["headers"].get("x-api-key") == KEY for call in calls):
        raise SystemExit("the stand-in never saw the real key: the broker was not in the path")

    task = ["claude", "-p", "say hi"]
    inside = [AISHELL_RUN, "exec", "--project", str(project), "--", *task]
    bare = ["docker", "run", "--rm", "--network", f"aishell-egress-{os.getuid()}", "-e", "ANTHROPIC_API_KEY",
            "-e", f"ANTHROPIC_BASE_URL=http://{address}:{port}", "-e", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
            IMAGE, *task]
    claude: dict[str, list[float]] = {"inside": [], "bare": []}
    for _ in range(CLAUDE_RUNS):
        for kind, argv in (("inside", inside), ("bare", bare)):
            start = time.perf_counter()
            subprocess.run(argv, env=env, check=True, stdin=subprocess.DEVNULL, capture_output=True)
            claude[kind].append(time.perf_counter() - start)

    plain_median, broker_median = median(samples["plain"]), median(samples["broker"])
    rows = [
        "| one request, new connection | median (ms) | 95th percentile (ms) |",
        "| --- | --- | --- |",
        f"| through the proxy alone (HTTP) | {plain_median * 1000:.1f} | "
        f"{percentile(samples['plain'], 0.95) * 1000:.1f} |",
        f"| through the proxy and the broker (HTTPS, key put in, sent upstream) | {broker_median * 1000:.1f} | "
        f"{percentile(samples['broker'], 0.95) * 1000:.1f} |",
        f"| **added by the broker** | **{(broker_median - plain_median) * 1000:.1f}** | |",
        "",
        "| `claude -p 'say hi'` on the stand-in | median (s) | |",
        "| --- | --- | --- |",
        f"| `aishell-run exec -- claude -p` (sandbox, broker in the path) | {median(claude['inside']):.2f} | "
        f"{median(claude['inside']) / median(claude['bare']):.2f}x |",
        f"| bare `docker run IMAGE claude -p` (no sandbox, no proxy, no broker) | {median(claude['bare']):.2f} "
        "| 1.00x |",
    ]
    spread = statistics.pstdev(samples["broker"]) * 1000
    write_section("broker", "## The credential broker (bench/broker.py)\n\n" + "\n".join(rows) + "\n\n"
                  f"{RUNS} requests of each kind, interleaved, in one sandbox (broker standard deviation "
                  f"{spread:.1f} ms); {CLAUDE_RUNS} runs of each `claude -p`, interleaved. The sandbox's run "
                  "includes its warm launch; the bare run neither the sandbox's hardening nor the proxy. "
                  "The proxy-alone baseline is plain HTTP (the proxy never reaches this machine over TLS): "
                  "the broker's figure includes the TLS handshake with the broker, which a request straight to "
                  "the provider pays too.")
    return rows


if __name__ == "__main__":
    main()
