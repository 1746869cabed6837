"""Inspect documents from Docker Engine's own socket, without starting the `docker` client (Engine.from_service).

A warm launch asks the engine three things before it runs the sandbox (the images' labels, the egress proxy's
state, its networks). Each `docker ... inspect` starts the Go client: 15 ms on an idle machine, 50 ms and more
when three start at once beside a launch. The same answer over the socket is one HTTP request of about a
millisecond, the request the client itself would send (unix_http.py). Used only where the client would talk to
that same socket (engines._local_docker_socket); the caller asks the client otherwise, and when this fails.
"""

from __future__ import annotations

# Docker has no endpoint that only tells whether it has an image: its inspect answers that in about a millisecond.
ENDPOINTS = {"image": "/images/{}/json", "image present": "/images/{}/json", "container": "/containers/{}/json",
             "network": "/networks/{}"}
