"""Inspect documents from Docker Engine's own socket, without starting the `docker` client.

A warm launch asks the engine three things before it runs the sandbox (the images' labels, the egress proxy's
state, its networks). Each `docker ... inspect` starts the Go client: 15 ms on an idle machine, 50 ms and more
when three start at once beside a launch. The same answer over the socket is one HTTP request of about a
millisecond, the request the client itself would send. Used only where the client would talk to that same
socket (engines._local_docker_socket); the caller asks the client otherwise, and when this fails.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable
from urllib.parse import quote

ENDPOINTS = {"image": "/images/{}/json", "container": "/containers/{}/json", "network": "/networks/{}"}


def inspect(path: str, kind: str, names: Iterable[str], timeout: float) -> dict[str, dict]:
    """The inspect document of each of `names` (images, containers or networks) the daemon has, by name.

    Raises OSError (TimeoutError when it does not answer in `timeout`) when the daemon cannot be asked, and
    ValueError for an answer that is not an inspect document."""
    found: dict[str, dict] = {}
    for name in names:
        status, body = get(path, ENDPOINTS[kind].format(quote(name, safe="/:@")), timeout)
        if status == 404:
            continue
        if status != 200:
            raise OSError(f"the Docker daemon answered {status}")
        document = json.loads(body)
        if not isinstance(document, dict):
            raise ValueError("not an inspect document")
        found[name] = document
    return found


def get(path: str, target: str, timeout: float) -> tuple[int, bytes]:
    """One GET as HTTP/1.0: the daemon answers without chunks and closes, so the answer is all that is read.
    (http.client would do, but importing it costs a launch 28 ms: more than it saves.)"""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        connection.connect(path)
        connection.sendall(f"GET {target} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    head, separator, body = b"".join(chunks).partition(b"\r\n\r\n")
    fields = head.split(b"\r\n", 1)[0].split()
    if not separator or len(fields) < 2 or not fields[1].isdigit():
        raise ValueError("not an HTTP answer")
    return int(fields[1]), body
