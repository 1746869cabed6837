"""A stand-in for Google's Gemini API (generativelanguage), so end-to-end tests can drive the real Gemini CLI
offline.

Point Gemini CLI at it with ``GOOGLE_GEMINI_BASE_URL=http://HOST:PORT`` and any ``GEMINI_API_KEY``. It is the
one fake allowed in the end-to-end tests: the agent, the sandbox and the files are real, only the model is
scripted (common.py: the script).

Protocol spoken (enough for ``gemini -p`` 0.61 to finish a task):

* ``POST /v1beta/models/MODEL:streamGenerateContent?alt=sse``: ``text/event-stream`` of ``data:`` lines, each a
  ``GenerateContentResponse`` (``candidates[0].content.parts``, ``finishReason`` on the last, ``usageMetadata``);
* ``POST /v1beta/models/MODEL:generateContent``: one ``GenerateContentResponse`` (the CLI's side questions:
  model routing, next speaker, ...; a JSON object that fills the request's response schema when it has one);
* ``POST /v1beta/models/MODEL:countTokens``: ``{"totalTokens": 10}``;
* anything else answers 200 with ``{}``.

The write is a ``functionCall`` of ``write_file`` (``file_path``, ``content``), or of ``run_shell_command`` when
only that is offered; its result comes back as a ``functionResponse`` part of a user turn.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from http.server import ThreadingHTTPServer
from typing import Any

try:
    from . import common
except ImportError:  # run as a program
    import common  # type: ignore[no-redef]

ROUTE = re.compile(r"^/(?:v1beta|v1|v1alpha)/models/([^/:]+):(streamGenerateContent|generateContent|countTokens)$")


def _declared(body: dict[str, Any]) -> set[str]:
    return {declaration.get("name") for tool in body.get("tools") or [] if isinstance(tool, dict)
            for declaration in tool.get("functionDeclarations") or [] if isinstance(declaration, dict)}


def _last_user_turn(contents: list[Any]) -> list[dict[str, Any]]:
    """The parts of the user contents after the last model content."""
    turn: list[dict[str, Any]] = []
    for content in reversed(contents):
        if not isinstance(content, dict) or content.get("role") == "model":
            break
        turn[:0] = [part for part in content.get("parts") or [] if isinstance(part, dict)]
    return turn


def _filled(schema: Any) -> Any:
    """A value that satisfies a (simple) JSON schema: the first of an enum, "standin: ok" for a string, 1 for a
    number (Gemini CLI wants a complexity score of at least 1)."""
    if not isinstance(schema, dict):
        return common.TEXT_OTHERWISE
    if schema.get("enum"):
        return schema["enum"][0]
    kind = str(schema.get("type", "string")).lower()
    if kind == "object":
        return {name: _filled(spec) for name, spec in (schema.get("properties") or {}).items()}
    if kind == "array":
        return []
    return {"boolean": False, "integer": 1, "number": 1}.get(kind, common.TEXT_OTHERWISE)


def carries_tool_result(body: dict[str, Any]) -> bool:
    """Whether the request's last user turn is a tool's result (the second turn of the task)."""
    return any("functionResponse" in part for part in _last_user_turn(body.get("contents") or []))


def plan_parts(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The parts of the model's answer to a generateContent request body."""
    turn = _last_user_turn(body.get("contents") or [])
    if carries_tool_result(body):
        return [{"text": common.TEXT_AFTER_TOOL}]
    tools = _declared(body)
    for part in turn:
        task = common.write_task(part.get("text") or "")
        if task and "write_file" in tools:
            return [{"functionCall": {"name": "write_file", "args": {"file_path": task[0], "content": task[1]}}}]
        if task and "run_shell_command" in tools:
            return [{"functionCall": {"name": "run_shell_command",
                                      "args": {"command": common.shell_writing(*task)}}}]
    config = body.get("generationConfig") or {}
    schema = config.get("responseJsonSchema") or config.get("responseSchema")
    if schema:
        return [{"text": json.dumps(_filled(schema))}]
    return [{"text": common.TEXT_OTHERWISE}]


def _response(model: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    candidate = {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": 0}
    return {"candidates": [candidate],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
            "modelVersion": model, "responseId": common.next_id("resp")}


def stream_events(model: str, body: dict[str, Any]) -> str:
    """The streaming answer (alt=sse): one chunk, which finishes the candidate."""
    return common.sse(_response(model, plan_parts(body)))


def app(method: str, route: str, query: str, body: Any) -> common.Answer | None:
    match = ROUTE.match(route)
    if method != "POST" or not match or not isinstance(body, dict):
        return None
    model, action = match.groups()
    if action == "countTokens":
        return common.json_answer({"totalTokens": 10})
    if action == "streamGenerateContent":
        return common.events_answer(stream_events(model, body))
    return common.json_answer(_response(model, plan_parts(body)))


def serve(host: str, port: int, log_path: str) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start the stand-in on a daemon thread (common.serve)."""
    return common.serve(app, host, port, log_path)


if __name__ == "__main__":
    sys.exit(common.main(app, __doc__.splitlines()[0]))
