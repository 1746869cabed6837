"""Network probes run inside an allowlist sandbox by test_network_policy.py (python3, standard library only).

Argument: JSON with the stand-in server's address and port, and the host's
port and addresses. Prints one JSON line: probe -> {reached, result|error, seconds}.
"""

import http.client
import json
import os
import socket
import sys
import time
import urllib.error
import urllib.request

given = json.loads(sys.argv[1])
PROXY = os.environ.get("HTTP_PROXY", "")


def timed(action):
    start = time.monotonic()
    try:
        outcome = {"reached": True, "result": action()}
    except Exception as error:  # every failure is a result here
        outcome = {"reached": False, "error": f"{type(error).__name__}: {error}"}
    outcome["seconds"] = round(time.monotonic() - start, 3)
    return outcome


def fetch(url, proxy=True):
    """The HTTP status of GET url, as the tools inside would fetch it (proxy=False: as if they ignored it)."""
    opener = urllib.request.build_opener(*([] if proxy else [urllib.request.ProxyHandler({})]))
    try:
        with opener.open(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def via_proxy(url):
    """The proxy's answer to GET url, asked directly (urllib would skip the proxy for NO_PROXY hosts)."""
    host, port = PROXY.split("//")[1].rstrip("/").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        connection.request("GET", url)
        return connection.getresponse().status
    finally:
        connection.close()


def connect(host, port, family=socket.AF_INET):
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect((host, port))
    return "connected"


def write(path):
    with open(path, "w") as file:
        file.write("nameserver 1.1.1.1\n")
    return "written"


def raw_socket():
    socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
    return "opened"


def forged_token():
    """Talk to the gate directly with a token it never handed out, as posing as another session would need (a
    session's token is "ADDRESS/SECRET"; unit tests try a real session's address with a wrong secret). A
    relayed request would answer; the gate closes instead."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as gate:
        gate.settimeout(10)
        gate.connect("/run/aishell-gate/gate.sock")
        gate.sendall(f"127.64.0.1/{'0' * 32}\nGET http://allowed.test:{given['port']}/ HTTP/1.1\r\n\r\n".encode())
        answer = gate.recv(100)
    if not answer:
        raise ConnectionError("closed by the gate")
    return answer.decode(errors="replace")


def interfaces():
    return sorted(os.listdir("/sys/class/net"))


def ipv6_addresses():
    with open("/proc/net/if_inet6") as table:
        return [line.split()[0] for line in table if line.strip()]


server, port, host_port = given["server"], given["port"], given["host_port"]
results = {
    "allowed_via_proxy": timed(lambda: fetch(f"http://allowed.test:{port}/")),
    "allowed_server_directly": timed(lambda: connect(server, port)),
    "denied_via_proxy": timed(lambda: fetch(f"http://denied.test:{port}/")),
    "metadata_directly": timed(lambda: connect("169.254.169.254", 80)),
    "metadata_via_proxy": timed(lambda: via_proxy("http://169.254.169.254/latest/meta-data/")),
    "loopback_directly": timed(lambda: connect("127.0.0.1", host_port)),
    "loopback_via_proxy": timed(lambda: via_proxy(f"http://127.0.0.1:{host_port}/")),
    "host_addresses_directly": {a: timed(lambda a=a: connect(a, host_port)) for a in given["host_addresses"]},
    "host_addresses_via_proxy": {a: timed(lambda a=a: via_proxy(f"http://{a}:{host_port}/"))
                                 for a in given["host_addresses"]},
    "ipv6_addresses": ipv6_addresses() if os.path.exists("/proc/net/if_inet6") else [],
    "ipv6_loopback": timed(lambda: connect("::1", host_port, socket.AF_INET6)),
    "ipv6_outside": timed(lambda: connect("2001:db8::1", 80, socket.AF_INET6)),
    "dns": timed(lambda: socket.getaddrinfo("example.com", 443)),
    "interfaces": interfaces(),
    "write_resolv_conf": timed(lambda: write("/etc/resolv.conf")),
    "raw_socket": timed(raw_socket),
    "forged_token": timed(forged_token),
    "write_gate": timed(lambda: write("/run/aishell-gate/gate_client.pl")),
    "token_inherited": "AISHELL_GATE_TOKEN" in os.environ,
    "proxy_config_visible": timed(lambda: os.path.exists("/etc/aishell-egress")),
    "allowed_without_proxy": timed(lambda: fetch(f"http://allowed.test:{port}/", proxy=None)),
}
print(json.dumps(results))
