"""One HTTP request over a Unix socket: how we ask an engine's own service (Docker's daemon, our Podman service)
what its client would, without starting the client (a Go binary: 15 ms idle, 100 ms and more for rootless Podman).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterable
from urllib.parse import quote


def documents(path: str, template: str, names: Iterable[str], timeout: float) -> dict[str, dict]:
    """The JSON document at `template` (a target with `{}` for the name) of each of `names` the service has, by
    name; a 404 is a name it does not have, a 204 (an endpoint that only tells whether it has it) one it has,
    with no document ({}).

    Raises OSError (TimeoutError when it does not answer in `timeout`) when the service cannot be asked or answers
    anything else, and ValueError for an answer that is not a JSON object."""
    found: dict[str, dict] = {}
    for name in names:
        status, body = get(path, template.format(quote(name, safe="/:@")), timeout)
        if status == 404:
            continue
        if status == 204:
            found[name] = {}
            continue
        if status != 200:
            raise OSError(f"the engine's service answered {status}")
        document = json.loads(body)
        if not isinstance(document, dict):
            raise ValueError("not an inspect document")
        found[name] = document
    return found


def get(path: str, target: str, timeout: float) -> tuple[int, bytes]:
    """One GET: the status and body of the answer."""
    return request(path, "GET", target, timeout)


def request(path: str, method: str, target: str, timeout: float, body: bytes = b"") -> tuple[int, bytes]:
    """One request as HTTP/1.0: the service answers without chunks and closes, so the answer is all that is read.
    (http.client would do, but importing it costs a launch 28 ms: more than it saves.)"""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.settimeout(timeout)
        connection.connect(path)
        head = f"{method} {target} HTTP/1.0\r\nHost: localhost\r\nContent-Length: {len(body)}\r\n\r\n"
        connection.sendall(head.encode() + body)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    head, separator, answer = b"".join(chunks).partition(b"\r\n\r\n")
    fields = head.split(b"\r\n", 1)[0].split()
    if not separator or len(fields) < 2 or not fields[1].isdigit():
        raise ValueError("not an HTTP answer")
    return int(fields[1]), answer
