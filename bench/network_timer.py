"""Timed by bench/network.py as the user whose engine it measures (root's Docker, or the test user's Podman).

Standard library only: the test user runs it with /usr/bin/python3, passed as `-c`.
Arguments: ENGINE AISHELL_RUN RUNS. Prints JSON medians in seconds.
"""

import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

engine, aishell, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
IMAGE = "localhost/aishell-foundation:latest"
IMAGE_CONFIG = ('image:\n  base_source: debootstrap\nagents:\n  codex: {version: ""}\n  gemini: {version: ""}\n'
                '  opencode: {version: ""}\n')
# An HTTPS server on 443 with a throw-away certificate: the stand-in for an allowlisted host.
SERVER = ("cd /tmp && openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -out c.pem -days 1 -subj /CN=bench.test "
          "2>/dev/null && exec python3 -c 'import http.server, ssl\n"
          "server = http.server.ThreadingHTTPServer((\"\", 443), http.server.SimpleHTTPRequestHandler)\n"
          "context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); context.load_cert_chain(\"c.pem\", \"k.pem\")\n"
          "server.socket = context.wrap_socket(server.socket, server_side=True); server.serve_forever()'")
# One HTTPS request per sample, each on a new connection, as a tool fetching one URL would.
CLIENT = """
import json, ssl, statistics, sys, time, urllib.request
context = ssl.create_default_context(); context.check_hostname = False; context.verify_mode = ssl.CERT_NONE
opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))
def once():
    start = time.perf_counter()
    with opener.open(sys.argv[1], timeout=10) as response:
        response.read()
    return time.perf_counter() - start
for _ in range(3):
    once()
print(json.dumps(statistics.median(once() for _ in range(int(sys.argv[2])))))
"""


def project(mode: str, config_home: str) -> str:
    root = tempfile.mkdtemp(prefix=f"aishell-bench-{mode}-", dir=os.path.expanduser("~"))
    os.makedirs(f"{root}/.aishell")
    with open(f"{root}/.aishell/config.yaml", "w") as config:
        config.write(f"engine: {engine}\n{IMAGE_CONFIG}network: {{mode: {mode}, allow: [bench.test]}}\n")
    return root


def aishell_in(root: str, config_home: str, *arguments: str) -> list[str]:
    line = f"cd {shlex.quote(root)} && XDG_CONFIG_HOME={config_home} {aishell} {shlex.join(arguments)}"
    return ["sh", "-c", line]


def seconds(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def output(argv: list[str]) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout.strip()


uid = os.getuid()
config_home = tempfile.mkdtemp(prefix="aishell-bench-config-", dir=os.path.expanduser("~"))
allowlist, open_ = project("allowlist", config_home), project("open", config_home)
true_in = {mode: aishell_in(root, config_home, "exec", "--", "true") for mode, root in
           (("allowlist", allowlist), ("open", open_))}
for argv in true_in.values():
    seconds(argv)  # converge: images, the proxy, the launch spec
samples = {"allowlist": [], "open": []}
for _ in range(runs):  # interleaved, so drift on the machine hits both alike
    for mode, argv in true_in.items():
        samples[mode].append(seconds(argv))

server = f"aishell-bench-tls-{uid}"
subprocess.run([engine, "rm", "--force", server], capture_output=True)  # unchecked: only if an earlier run left it
output([engine, "run", "-d", "--rm", "--name", server, "--network", f"aishell-egress-{uid}", IMAGE, "sh", "-c",
        SERVER])
try:
    address = output([engine, "inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                      server])
    os.makedirs(f"{config_home}/aishell")
    with open(f"{config_home}/aishell/config.yaml", "w") as config:
        config.write(f"network:\n  internal_hosts: {{bench.test: {address}}}\n")
    for _ in range(50):  # until the server has its certificate and listens
        if subprocess.run([engine, "exec", server, "sh", "-c", "test -s /tmp/c.pem"]).returncode == 0:
            break
        time.sleep(0.2)
    time.sleep(0.5)
    requests = str(max(runs * 2, 20))
    proxied = float(output(aishell_in(allowlist, config_home, "exec", "--", "python3", "-c", CLIENT,
                                      "https://bench.test/", requests)).splitlines()[-1])
    direct = float(output([engine, "run", "--rm", "--network", f"aishell-egress-{uid}", IMAGE, "python3", "-c",
                           CLIENT, f"https://{address}/", requests]).splitlines()[-1])
finally:
    subprocess.run([engine, "rm", "--force", server], capture_output=True, check=True)
    subprocess.run(["rm", "-rf", allowlist, open_, config_home], check=True)
print(json.dumps({"allowlist": statistics.median(samples["allowlist"]), "open": statistics.median(samples["open"]),
                  "proxied": proxied, "direct": direct, "requests": int(requests)}))
