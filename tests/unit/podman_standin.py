"""A stand-in for `podman system service` (test_podman_service.py): serves libpod's inspect endpoints over HTTP/1.0
on the Unix socket given as `unix://PATH`, after recording its pid, session, working directory and environment in
the file given second.

Knows containers `proxy` and `broker`, image `localhost/a:1` (its inspect, and whether it exists), and answers
/_ping; stores, shows and removes secrets.
"""

import json
import os
import re
import socket
import sys

SECRETS = "/v4.0.0/libpod/secrets/"
DOCUMENTS = {
    "/v4.0.0/libpod/containers/proxy/json": {"Name": "proxy", "State": {"Running": True}},
    "/v4.0.0/libpod/containers/broker/json": {"Name": "broker", "State": {"Running": True}},
    "/v4.0.0/libpod/images/localhost/a:1/json": {"Id": "a", "Config": {"Labels": {"k": "v"}}},
    "/_ping": "OK",
}
PRESENT = {"/v4.0.0/libpod/images/localhost/a:1/exists"}  # answered 204, with no body, as Podman does


def main() -> None:
    path, record = sys.argv[1].removeprefix("unix://"), sys.argv[2]
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen()
    with open(record, "w") as file:
        json.dump({"pid": os.getpid(), "sid": os.getsid(0), "cwd": os.getcwd(), "env": dict(os.environ)}, file)
    secrets: dict[str, str] = {}
    while True:
        connection, _ = server.accept()
        with connection:
            method, target, body = _read(connection)
            document = DOCUMENTS.get(target)
            if method == "POST" and target.startswith(SECRETS + "create?name="):
                name = target.removeprefix(SECRETS + "create?name=").partition("&")[0]
                secrets[name] = body.decode()
                document = {"ID": name}
            elif method == "DELETE" and target.startswith(SECRETS):
                document = {} if secrets.pop(target.removeprefix(SECRETS), None) is not None else None
            elif target.startswith(SECRETS) and target.endswith("/json"):  # the tests' look at what is stored
                name = target.removeprefix(SECRETS).removesuffix("/json")
                document = {"Name": name, "Value": secrets[name]} if name in secrets else None
            status = "200 OK" if document is not None else "404 Not Found"
            answer = json.dumps(document if document is not None else {"cause": "no such object"})
            if target in PRESENT:
                status, answer = "204 No Content", ""
            connection.sendall(f"HTTP/1.0 {status}\r\nContent-Type: application/json\r\n\r\n{answer}".encode())


def _read(connection: socket.socket) -> tuple[str, str, bytes]:
    """The request's method, target and body (as long as its Content-Length says)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += connection.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1)) if b"Content-Length" in head else 0
    while len(body) < length:
        body += connection.recv(65536)
    method, target = head.split(b" ")[:2]
    return method.decode(), target.decode(), body


if __name__ == "__main__":
    main()
