"""A stand-in for Anthropic's Messages API, so end-to-end tests can drive the real Claude Code CLI offline.

Point the CLI at it with ``ANTHROPIC_BASE_URL=http://HOST:PORT`` and any ``ANTHROPIC_API_KEY``. It is the one
fake allowed in the end-to-end tests: the agent, the sandbox and the files are real, only the model is scripted.

Protocol spoken (enough for ``claude`` 2.1.x to finish a task):

* ``POST /v1/messages`` (with or without ``?beta=true``), both non-streaming (one JSON ``message`` object) and
  streaming (``"stream": true``: ``text/event-stream`` carrying ``message_start``, ``content_block_start``,
  ``content_block_delta`` with ``text_delta`` or ``input_json_delta``, ``content_block_stop``, ``message_delta``
  with ``stop_reason`` and ``usage``, ``message_stop``).
* ``POST /v1/messages/count_tokens`` answers ``{"input_tokens": 10}``.
* Anything else (the CLI's ``HEAD /api/hello`` connectivity check, say) answers 200 with ``{}``, so what else
  the CLI calls shows up in the log instead of failing.

The answers are scripted from the last user turn, the user messages after the last assistant message (Claude
Code 2.1.332 sends a ``system``-role message after the prompt; it is skipped):

* the turn holds a line ``aishell-standin: write ABSOLUTE_PATH CONTENT...`` (anywhere in its text
  blocks, since Claude Code wraps the prompt in system reminders) and the request offers a ``Write`` tool: a
  ``tool_use`` block calling ``Write`` with ``{"file_path": ABSOLUTE_PATH, "content": CONTENT + "\\n"}``;
* the turn carries a ``tool_result``: the text ``standin: done``;
* anything else (title or topic generation, quota checks with ``max_tokens`` 1, ...): the text ``standin: ok``
  (when the request asks for structured output, ``output_config.format`` of type ``json_schema``, a JSON object
  whose string properties say ``standin: ok``).

Every request is appended to a JSONL log: method, path, headers, the parsed JSON body (or null).

Run it as a program: ``python3 anthropic_api.py --host 0.0.0.0 --port 0 --log FILE`` prints ``listening PORT``
as its first line and serves until killed; or start it in-process with :func:`serve`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DIRECTIVE = re.compile(r"aishell-standin: write[ \t]+(\S+)(?:[ \t]+([^\r\n]*))?")
TOOL_NAME = "Write"
TEXT_AFTER_TOOL = "standin: done"
TEXT_OTHERWISE = "standin: ok"

_ids = itertools.count(1)


def _next_id(prefix: str) -> str:
    return f"{prefix}_standin{next(_ids):08d}"


def _blocks(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [block for block in content if isinstance(block, dict)]
    return []


def _last_user_turn(messages: list[Any]) -> list[dict[str, Any]]:
    """The content blocks of the user messages after the last assistant message.

    Claude Code sends mid-conversation ``system`` messages too (after the prompt, say); they are skipped.
    """
    turn: list[dict[str, Any]] = []
    for message in reversed(messages):
        if not isinstance(message, dict) or message.get("role") == "assistant":
            break
        if message.get("role") == "user":
            turn[:0] = _blocks(message)
    return turn


def _text_of(block: dict[str, Any]) -> str:
    return block.get("text", "") if block.get("type") == "text" and isinstance(block.get("text"), str) else ""


def _offers_tool(body: dict[str, Any], name: str) -> bool:
    return any(isinstance(tool, dict) and tool.get("name") == name for tool in body.get("tools") or [])


def plan_reply(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """The content blocks and stop reason that answer a Messages API request body."""
    turn = _last_user_turn(body.get("messages") or [])
    if any(block.get("type") == "tool_result" for block in turn):
        return [{"type": "text", "text": TEXT_AFTER_TOOL}], "end_turn"
    if _offers_tool(body, TOOL_NAME):
        for block in turn:
            match = DIRECTIVE.search(_text_of(block))
            if match:
                tool_input = {"file_path": match.group(1), "content": (match.group(2) or "").rstrip() + "\n"}
                tool_use = {"type": "tool_use", "id": _next_id("toolu"), "name": TOOL_NAME, "input": tool_input}
                return [tool_use], "tool_use"
    return [{"type": "text", "text": _plain_answer(body)}], "end_turn"


def _plain_answer(body: dict[str, Any]) -> str:
    """``standin: ok``, as a JSON object when the request asks for structured output (the session title does)."""
    output_format = (body.get("output_config") or {}).get("format") or {}
    if output_format.get("type") != "json_schema":
        return TEXT_OTHERWISE
    fillers = {"string": TEXT_OTHERWISE, "boolean": False, "integer": 0, "number": 0, "array": [], "object": {}}
    properties = (output_format.get("schema") or {}).get("properties") or {}
    answer = {
        name: fillers.get(spec.get("type") if isinstance(spec, dict) else None, TEXT_OTHERWISE)
        for name, spec in properties.items()
    }
    return json.dumps(answer)


def _usage(output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": 10,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def message_object(body: dict[str, Any]) -> dict[str, Any]:
    """The non-streaming answer: one ``message`` object."""
    content, stop_reason = plan_reply(body)
    return {
        "id": _next_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "standin"),
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": _usage(5),
    }


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def message_events(body: dict[str, Any]) -> str:
    """The streaming answer: the whole server-sent event sequence of one message."""
    message = message_object(body)
    content = message.pop("content")
    stop_reason = message.pop("stop_reason")
    start = {**message, "content": [], "stop_reason": None, "usage": _usage(1)}
    events = [_sse("message_start", {"type": "message_start", "message": start}), _sse("ping", {"type": "ping"})]
    for index, block in enumerate(content):
        if block["type"] == "tool_use":
            opening = {**block, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        else:
            opening = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        events += [
            _sse("content_block_start", {"type": "content_block_start", "index": index, "content_block": opening}),
            _sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}),
            _sse("content_block_stop", {"type": "content_block_stop", "index": index}),
        ]
    events += [
        _sse(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": 5},
            },
        ),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    return "".join(events)


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
        self.send_header("request-id", _next_id("req"))
        if content_type.startswith("text/event-stream"):
            self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    def _send_json(self, data: Any, status: int = 200) -> None:
        self._send(status, "application/json", json.dumps(data).encode())

    def _handle(self) -> None:
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        self.server.record(
            {"method": self.command, "path": self.path, "headers": dict(self.headers.items()), "body": body}
        )
        route = self.path.split("?", 1)[0].rstrip("/")
        if self.command == "POST" and route == "/v1/messages" and isinstance(body, dict):
            if body.get("stream"):
                self._send(200, "text/event-stream; charset=utf-8", message_events(body).encode())
            else:
                self._send_json(message_object(body))
        elif self.command == "POST" and route == "/v1/messages/count_tokens":
            self._send_json({"input_tokens": 10})
        else:
            self._send_json({})

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], log_path: str) -> None:
        super().__init__(address, _Handler)
        self.log_path = log_path
        self._log_lock = threading.Lock()

    def record(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry) + "\n"
        with self._log_lock, open(self.log_path, "a", encoding="utf-8") as log:
            log.write(line)


def serve(host: str, port: int, log_path: str) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start the stand-in on a daemon thread; ``server.server_address[1]`` is the port (useful with port 0).

    Stop it with ``server.shutdown(); server.server_close()``.
    """
    server = _Server((host, port), log_path)
    thread = threading.Thread(target=server.serve_forever, name="anthropic-api-standin", daemon=True)
    thread.start()
    return server, thread


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--log", required=True, help="JSONL file every request is appended to")
    args = parser.parse_args(argv)
    server, thread = serve(args.host, args.port, args.log)
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
    sys.exit(main())
