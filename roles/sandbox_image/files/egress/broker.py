"""aishell credential broker: a mitmproxy addon. Sandboxes hold placeholders; this puts the real values in.

squid (squid.conf) sends a session's requests here only for hosts of that session's credentials, with the
session's id in X-Aishell-Session on the CONNECT. aishell-run writes each session's credentials to
sessions/<session>.json (readable by this broker only; no sandbox mounts it):

    {"session": ID, "upstreams": {HOST: URL},
     "credentials": [{"variable": NAME, "placeholder": P, "value": V, "hosts": [HOST, "*.DOMAIN"],
                      "header": NAME or null, "format": "Bearer {value}" or null}]}

A request is refused (403, logged with a reason) when it carries a placeholder to a host that is not one of
that credential's own, or a placeholder of another session. Otherwise each placeholder in its headers and
query is replaced by the real value (or the declared header is set to the declared format), the request goes
to the session's upstream for that host if one is set, and the real values are turned back into placeholders
in what comes back. Refusals are logged in squid's "aishell" format, so `aishell-run logs --network` lists
them beside squid's own.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from mitmproxy import http

SESSION_HEADER = "X-Aishell-Session"


def _matches(host: str, patterns: list[str]) -> bool:
    return any(host == p or (p.startswith("*.") and host.endswith(p[1:]) and len(host) > len(p) - 1)
               for p in patterns)


class Broker:
    def __init__(self) -> None:
        self.directory = Path(os.environ.get("AISHELL_BROKER_SESSIONS", "/etc/aishell-broker/sessions"))
        self.seen: tuple[int, ...] | None = None
        self.sessions: dict[str, dict] = {}
        self.by_connection: dict[str, str] = {}

    # ------------------------------------------------------------------------------------------------ state
    def _load(self) -> None:
        """Re-read the sessions when the directory changed (files are replaced whole, so its mtime moves)."""
        try:
            stamp = (self.directory.stat().st_mtime_ns,)
        except OSError:
            self.sessions, self.seen = {}, None
            return
        if stamp == self.seen:
            return
        sessions = {}
        for path in self.directory.glob("*.json"):
            try:
                entry = json.loads(path.read_text())
                sessions[entry["session"]] = entry
            except (OSError, ValueError, KeyError, TypeError):
                continue  # one being written or damaged: its placeholders stay worthless, nothing leaks
        self.sessions, self.seen = sessions, stamp

    # ------------------------------------------------------------------------------------------------ hooks
    def http_connect(self, flow: http.HTTPFlow) -> None:
        session = flow.request.headers.pop(SESSION_HEADER, "")
        if session:
            self.by_connection[flow.client_conn.id] = session

    def client_disconnected(self, client) -> None:
        self.by_connection.pop(client.id, None)

    def request(self, flow: http.HTTPFlow) -> None:
        self._load()
        request = flow.request
        host = request.pretty_host.lower().rstrip(".")
        session_id = self.by_connection.get(flow.client_conn.id, "-")
        request.headers.pop(SESSION_HEADER, None)
        texts = [request.url, *(f"{name}: {value}" for name, value in request.headers.items(multi=True))]
        carried = [(sid, cred) for sid, entry in self.sessions.items() for cred in entry.get("credentials", [])
                   if cred.get("placeholder") and any(cred["placeholder"] in text for text in texts)]
        for sid, cred in carried:
            if sid != session_id:
                return self._refuse(flow, session_id, "placeholder_of_another_session", cred["variable"])
            if not _matches(host, cred.get("hosts", [])):
                return self._refuse(flow, session_id, "credential_not_for_host", cred["variable"])
        for _, cred in carried:
            self._put_in(request, cred)
        upstream = self.sessions.get(session_id, {}).get("upstreams", {}).get(host)
        if upstream:
            self._send_to(request, upstream)
        flow.metadata["aishell_values"] = [(cred["value"], cred["placeholder"]) for _, cred in carried]
        flow.metadata["aishell_session"] = session_id

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        """Stream what comes back (agents read server-sent events as they arrive), real values turned back
        into placeholders: an error that echoes the key does not hand it to the sandbox."""
        swaps = flow.metadata.get("aishell_values") or []

        def scrub(chunk: bytes) -> bytes:
            for value, placeholder in swaps:
                chunk = chunk.replace(value.encode(), placeholder.encode())
            return chunk

        flow.response.stream = scrub if swaps else True
        if any(len(value) != len(placeholder) for value, placeholder in swaps):
            flow.response.headers.pop("Content-Length", None)  # scrubbing changes the length
        for name, value in list(flow.response.headers.items(multi=True)):
            for real, placeholder in swaps:
                if real in value:
                    flow.response.headers[name] = value.replace(real, placeholder)

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.request and flow.metadata.get("aishell_session"):
            self._log(flow, flow.metadata["aishell_session"], 502, "upstream_failed", "")

    # ------------------------------------------------------------------------------------------------ parts
    @staticmethod
    def _put_in(request: http.Request, cred: dict) -> None:
        placeholder, value = cred["placeholder"], cred["value"]
        header, form = cred.get("header"), cred.get("format")
        for name, text in list(request.headers.items(multi=True)):
            if placeholder not in text:
                continue
            if header and form and name.lower() == header.lower():
                request.headers[name] = form.replace("{value}", value)
            else:
                request.headers[name] = text.replace(placeholder, value)
        for name, text in list(request.query.items(multi=True)):
            if placeholder in text:
                request.query[name] = text.replace(placeholder, value)

    @staticmethod
    def _send_to(request: http.Request, upstream: str) -> None:
        target = urlsplit(upstream)
        request.scheme = target.scheme
        request.host = target.hostname or request.host
        request.port = target.port or (443 if target.scheme == "https" else 80)
        request.path = target.path.rstrip("/") + request.path
        request.headers["Host"] = target.netloc.rpartition("@")[2]

    def _refuse(self, flow: http.HTTPFlow, session: str, reason: str, variable: str) -> None:
        flow.response = http.Response.make(
            403, f"aishell credential broker: {reason} ({variable} is not sent to {flow.request.pretty_host})\n",
            {"Content-Type": "text/plain"})
        self._log(flow, session, 403, reason, variable)

    @staticmethod
    def _log(flow: http.HTTPFlow, session: str, status: int, reason: str, variable: str) -> None:
        # squid.conf's logformat "aishell": time client status reason session method host:port ms url
        request = flow.request
        reason += f":{variable}" if variable else ""
        line = (f"{time.time():.3f} broker TCP_DENIED/{status:03d} {reason} {session} {request.method} "
                f"{request.pretty_host}:{request.port} 0 {request.pretty_url.split('?')[0]}\n")
        sys.stdout.write(line)
        sys.stdout.flush()


addons = [Broker()]
