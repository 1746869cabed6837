"""A stand-in for Anthropic's Messages API, so end-to-end tests can drive the real Claude Code CLI (and
OpenCode's anthropic provider) offline.

Point Claude Code at it with ``ANTHROPIC_BASE_URL=http://HOST:PORT`` and any ``ANTHROPIC_API_KEY``. It is the one
fake allowed in the end-to-end tests: the agent, the sandbox and the files are real, only the model is scripted.

Protocol spoken (enough for ``claude`` 2.1.x and ``opencode run`` 1.18 to finish a task):

* ``POST /v1/messages`` (with or without ``?beta=true``), both non-streaming (one JSON ``message`` object) and
  streaming (``"stream": true``: ``text/event-stream`` carrying ``message_start``, ``content_block_start``,
  ``content_block_delta`` with ``text_delta`` or ``input_json_delta``, ``content_block_stop``, ``message_delta``
  with ``stop_reason`` and ``usage``, ``message_stop``).
* ``POST /v1/messages/count_tokens`` answers ``{"input_tokens": 10}``.
* ``GET /api/claude_code/policy_limits`` (asked when the CLI talks to its real host, as behind the credential
  broker) answers ``{"restrictions": {}}``: no organisation limits.
* Anything else (the CLI's ``HEAD /api/hello`` connectivity check, say) answers 200 with ``{}``, so what else
  the CLI calls shows up in the log instead of failing.

The answers are scripted from the last user turn, the user messages after the last assistant message (Claude
Code 2.1.332 sends a ``system``-role message after the prompt; it is skipped):

* the turn holds a line ``aishell-standin: write ABSOLUTE_PATH CONTENT...`` (anywhere in its text
  blocks, since Claude Code wraps the prompt in system reminders) and the request offers a ``Write`` tool
  (Claude Code's) or a ``write`` tool (OpenCode's): a ``tool_use`` block calling it with
  ``{"file_path": ABSOLUTE_PATH, "content": CONTENT + "\\n"}`` (``filePath`` for OpenCode's);
* the turn carries a ``tool_result``: the text ``standin: done``;
* anything else (title or topic generation, quota checks with ``max_tokens`` 1, ...): the text ``standin: ok``
  (when the request asks for structured output, ``output_config.format`` of type ``json_schema``, a JSON object
  whose string properties say ``standin: ok``).

Every request is appended to a JSONL log: method, path, headers, the parsed JSON body (or null) (common.py).

Run it as a program: ``python3 anthropic_api.py --host 0.0.0.0 --port 0 --log FILE`` prints ``listening PORT``
as its first line and serves until killed; or start it in-process with :func:`serve`.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import ThreadingHTTPServer
from typing import Any

try:
    from . import common
except ImportError:  # run as a program
    import common  # type: ignore[no-redef]
TEXT_AFTER_TOOL, TEXT_OTHERWISE, Answer, events_answer, json_answer = (
    common.TEXT_AFTER_TOOL, common.TEXT_OTHERWISE, common.Answer, common.events_answer, common.json_answer)

# The file-writing tools it calls, by name: the names of their path and content arguments.
WRITE_TOOLS = {"Write": ("file_path", "content"), "write": ("filePath", "content")}


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


def carries_tool_result(body: dict[str, Any]) -> bool:
    """Whether the request's last user turn is a tool's result (the second turn of the task)."""
    return any(block.get("type") == "tool_result" for block in _last_user_turn(body.get("messages") or []))


def plan_reply(body: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """The content blocks and stop reason that answer a Messages API request body."""
    turn = _last_user_turn(body.get("messages") or [])
    if carries_tool_result(body):
        return [{"type": "text", "text": TEXT_AFTER_TOOL}], "end_turn"
    for name, (path_argument, content_argument) in WRITE_TOOLS.items():
        if not _offers_tool(body, name):
            continue
        for block in turn:
            task = common.write_task(_text_of(block))
            if task:
                tool_input = {path_argument: task[0], content_argument: task[1]}
                tool_use = {"type": "tool_use", "id": common.next_id("toolu"), "name": name, "input": tool_input}
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
        "id": common.next_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "standin"),
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": _usage(5),
    }


def _sse(event: str, data: dict[str, Any]) -> str:
    return common.sse(data, event)


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
        _sse("message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": 5},
            },
        ),
        _sse("message_stop", {"type": "message_stop"}),
    ]
    return "".join(events)


def app(method: str, route: str, query: str, body: Any) -> Answer | None:
    if method == "POST" and route == "/v1/messages" and isinstance(body, dict):
        return events_answer(message_events(body)) if body.get("stream") else json_answer(message_object(body))
    if method == "POST" and route == "/v1/messages/count_tokens":
        return json_answer({"input_tokens": 10})
    if route == "/api/claude_code/policy_limits":
        # Asked of the real host (never of a custom base URL): anything else makes it retry with back-off.
        return json_answer({"restrictions": {}})
    return None


def serve(host: str, port: int, log_path: str) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start the stand-in on a daemon thread (common.serve)."""
    return common.serve(app, host, port, log_path)


if __name__ == "__main__":
    sys.exit(common.main(app, __doc__.splitlines()[0]))
