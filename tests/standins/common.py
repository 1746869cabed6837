"""What the stand-ins for the providers' APIs share: the scripted task, the HTTP server and its request log.

Each stand-in (anthropic_api.py, openai_responses.py, gemini_api.py) speaks one provider's protocol; all of
them follow one script, read from the last user turn of a request:

* a line ``aishell-standin: write ABSOLUTE_PATH CONTENT...`` and a tool of the agent's own that writes a file
  (or runs a shell) on offer: a call of that tool writing ``CONTENT`` and a newline to ``ABSOLUTE_PATH``;
* the turn carries that tool's result: the text ``standin: done``;
* anything else (titles, summaries, quota checks): the text ``standin: ok``.

Every request is appended to a JSONL log: method, path, headers, the parsed JSON body (or null).
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import shlex
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DIRECTIVE = re.compile(r"([\"']?)aishell-standin: write[ \t]+(\S+)(?:[ \t]+([^\r\n]*))?")
TEXT_AFTER_TOOL = "standin: done"
TEXT_OTHERWISE = "standin: ok"

_ids = itertools.count(1)


def next_id(prefix: str) -> str:
    return f"{prefix}_standin{next(_ids):08d}"


def write_task(text: str) -> tuple[str, str] | None:
    """The (path, content) a prompt asks to be written, content ending in a newline; None when it asks none.
    A prompt in quotes is read without them (`opencode run` quotes a message that holds spaces)."""
    match = DIRECTIVE.search(text)
    if not match:
        return None
    quote, path, content = match.groups()
    content = (content or "").rstrip()
    if quote and content.endswith(quote):
        content = content[:-1]
    return path, content + "\n"


def shell_writing(path: str, content: str) -> str:
    """A shell command that writes `content` to `path` (for agents whose tool is a shell)."""
    return f"printf %s {shlex.quote(content)} > {shlex.quote(path)}"


def sse(data: dict[str, Any], event: str | None = None) -> str:
    """One server-sent event; `event` names it (Anthropic and OpenAI do, Google does not)."""
    return (f"event: {event}\n" if event else "") + f"data: {json.dumps(data)}\n\n"


# A route's answer: (status, content type, payload).
Answer = tuple[int, str, bytes]
# method, path (without the query), query string, the parsed JSON body (or None) -> an answer or None.
App = Callable[[str, str, str, Any], "Answer | None"]


def json_answer(data: Any, status: int = 200) -> Answer:
    return status, "application/json", json.dumps(data).encode()


def events_answer(events: str) -> Answer:
    return 200, "text/event-stream; charset=utf-8", events.encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # the JSONL log says it all
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("request-id", next_id("req"))
        if content_type.startswith("text/event-stream"):
            self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _handle(self) -> None:
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self.server.record(
            {"method": self.command, "path": self.path, "headers": dict(self.headers.items()), "body": body}
        )
        route, _, query = self.path.partition("?")
        answer = self.server.app(self.command, route.rstrip("/"), query, body)
        self._send(*(answer or json_answer({})))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], app: App, log_path: str) -> None:
        super().__init__(address, _Handler)
        self.app = app
        self.log_path = log_path
        self._log_lock = threading.Lock()

    def record(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry) + "\n"
        with self._log_lock, open(self.log_path, "a", encoding="utf-8") as log:
            log.write(line)


def serve(app: App, host: str, port: int, log_path: str) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start a stand-in on a daemon thread; ``server.server_address[1]`` is the port (useful with port 0).
    Anything `app` does not answer gets 200 and ``{}``, so what else an agent calls shows up in the log.

    Stop it with ``server.shutdown(); server.server_close()``.
    """
    server = _Server((host, port), app, log_path)
    thread = threading.Thread(target=server.serve_forever, name="api-standin", daemon=True)
    thread.start()
    return server, thread


def main(app: App, description: str, argv: list[str] | None = None) -> int:
    """Run a stand-in as a program: it prints ``listening PORT`` as its first line and serves until killed."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", required=True, help="JSONL file every request is appended to")
    args = parser.parse_args(argv)
    server, thread = serve(app, args.host, args.port, args.log)
    print(f"listening {server.server_address[1]}", flush=True)
    try:
        thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit("run one of the stand-ins: anthropic_api.py, openai_responses.py, gemini_api.py")
