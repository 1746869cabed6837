"""A stand-in for `podman system service` (test_podman_service.py): serves libpod's inspect endpoints over HTTP/1.0
on the Unix socket given as `unix://PATH`, after recording its pid, session, working directory and environment in
the file given second.

Knows containers `proxy` and `broker`, image `localhost/a:1`, and answers /_ping.
"""

import json
import os
import socket
import sys

DOCUMENTS = {
    "/v4.0.0/libpod/containers/proxy/json": {"Name": "proxy", "State": {"Running": True}},
    "/v4.0.0/libpod/containers/broker/json": {"Name": "broker", "State": {"Running": True}},
    "/v4.0.0/libpod/images/localhost/a:1/json": {"Id": "a", "Config": {"Labels": {"k": "v"}}},
    "/_ping": "OK",
}


def main() -> None:
    path, record = sys.argv[1].removeprefix("unix://"), sys.argv[2]
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen()
    with open(record, "w") as file:
        json.dump({"pid": os.getpid(), "sid": os.getsid(0), "cwd": os.getcwd(), "env": dict(os.environ)}, file)
    while True:
        connection, _ = server.accept()
        with connection:
            target = connection.recv(65536).split(b" ")[1].decode()
            document = DOCUMENTS.get(target)
            status = "200 OK" if document is not None else "404 Not Found"
            body = json.dumps(document if document is not None else {"cause": "no such object"})
            connection.sendall(f"HTTP/1.0 {status}\r\nContent-Type: application/json\r\n\r\n{body}".encode())


if __name__ == "__main__":
    main()
