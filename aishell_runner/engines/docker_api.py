"""Inspect documents from Docker Engine's own socket, without starting the `docker` client.

A warm launch asks the engine three things before it runs the sandbox (the images' labels, the egress proxy's
state, its networks). Each `docker ... inspect` starts the Go client: 15 ms on an idle machine, 50 ms and more
when three start at once beside a launch. The same answer over the socket is one HTTP request of about a
millisecond, the request the client itself would send (unix_http.py). Used only where the client would talk to
that same socket (engines._local_docker_socket); the caller asks the client otherwise, and when this fails.
"""

from __future__ import annotations

from collections.abc import Iterable

from . import unix_http

ENDPOINTS = {"image": "/images/{}/json", "container": "/containers/{}/json", "network": "/networks/{}"}


def inspect(path: str, kind: str, names: Iterable[str], timeout: float) -> dict[str, dict]:
    """The inspect document of each of `names` (images, containers or networks) the daemon has, by name.

    Raises OSError (TimeoutError when it does not answer in `timeout`) when the daemon cannot be asked, and
    ValueError for an answer that is not an inspect document."""
    return unix_http.documents(path, ENDPOINTS[kind], names, timeout)
