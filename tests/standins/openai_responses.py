"""A stand-in for OpenAI's Responses API, so end-to-end tests can drive the real Codex CLI offline.

Point Codex at it with a model provider whose ``base_url`` is ``http://HOST:PORT/v1`` (``wire_api =
"responses"``, ``env_key = "OPENAI_API_KEY"``) and any key. It is the one fake allowed in the end-to-end tests:
the agent, the sandbox and the files are real, only the model is scripted (common.py: the script).

Protocol spoken (enough for ``codex exec`` 0.171 to finish a task):

* ``POST /v1/responses`` with ``"stream": true``: ``text/event-stream`` carrying ``response.created``, for each
  output item ``response.output_item.added``, ``response.output_text.delta`` (a message's text) and
  ``response.output_item.done``, then ``response.completed`` with the response's ``id`` and ``usage`` (Codex
  reports "stream closed before response.completed" without it). Without ``stream``: one ``response`` object.
* Anything else answers 200 with ``{}``.

Codex 0.171 offers its tools inside an ``additional_tools`` input item, as namespaces; its default model gets
one direct tool, ``exec`` (a *custom* tool taking JavaScript, which reaches the others as ``tools.NAME(...)``).
The write is, in order of preference, ``exec`` running ``tools.apply_patch`` (an "Add File" patch), a direct
``apply_patch`` custom tool, or a shell tool (``exec_command``, ``shell_command``, ``shell``). The tool's
result comes back as a ``custom_tool_call_output`` or ``function_call_output`` input item.
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

# Input items that the model produced: what comes after the last of them is the current turn.
MODEL_ITEMS = {"function_call", "custom_tool_call", "reasoning", "local_shell_call"}
TOOL_RESULTS = {"function_call_output", "custom_tool_call_output", "local_shell_call_output"}


def _tools(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every tool the request offers, by name: top-level ``tools`` and ``additional_tools`` input items, with
    namespaces opened."""
    found: dict[str, dict[str, Any]] = {}

    def add(tools: Any) -> None:
        for tool in tools if isinstance(tools, list) else []:
            if not isinstance(tool, dict):
                continue
            if tool.get("type") == "namespace":
                add(tool.get("tools"))
            elif isinstance(tool.get("name"), str):
                found.setdefault(tool["name"], tool)

    add(body.get("tools"))
    for item in body.get("input") or []:
        if isinstance(item, dict) and item.get("type") == "additional_tools":
            add(item.get("tools"))
    return found


def _last_turn(items: list[Any]) -> list[dict[str, Any]]:
    """The input items after the last one the model produced (its message, tool call or reasoning)."""
    turn: list[dict[str, Any]] = []
    for item in reversed(items):
        if not isinstance(item, dict):
            continue
        if item.get("type") in MODEL_ITEMS or (item.get("type", "message") == "message"
                                               and item.get("role") == "assistant"):
            break
        turn.insert(0, item)
    return turn


def _texts(item: dict[str, Any]) -> list[str]:
    if item.get("role") != "user":
        return []
    content = item.get("content")
    if isinstance(content, str):
        return [content]
    return [part.get("text", "") for part in content or [] if isinstance(part, dict)
            and part.get("type") in ("input_text", "text") and isinstance(part.get("text"), str)]


def _patch(path: str, content: str) -> str:
    lines = "".join(f"+{line}\n" for line in content.splitlines())
    return f"*** Begin Patch\n*** Add File: {path}\n{lines}*** End Patch\n"


def _write_call(tools: dict[str, dict[str, Any]], path: str, content: str) -> dict[str, Any] | None:
    """The output item calling the agent's tool that writes `content` to `path`; None when none is offered."""
    call_id = common.next_id("call")
    if tools.get("exec", {}).get("type") == "custom":  # code mode: JavaScript reaching the nested tools
        script = f"const result = await tools.apply_patch({json.dumps(_patch(path, content))});\ntext(result);\n"
        return {"type": "custom_tool_call", "id": common.next_id("ctc"), "call_id": call_id, "name": "exec",
                "input": script, "status": "completed"}
    if tools.get("apply_patch", {}).get("type") == "custom":
        return {"type": "custom_tool_call", "id": common.next_id("ctc"), "call_id": call_id, "name": "apply_patch",
                "input": _patch(path, content), "status": "completed"}
    shell = common.shell_writing(path, content)
    for name, arguments in (("exec_command", {"cmd": shell}), ("shell_command", {"command": shell}),
                            ("shell", {"command": ["bash", "-c", shell]})):
        if tools.get(name, {}).get("type") == "function":
            return {"type": "function_call", "id": common.next_id("fc"), "call_id": call_id, "name": name,
                    "arguments": json.dumps(arguments), "status": "completed"}
    return None


def _message(text: str) -> dict[str, Any]:
    return {"type": "message", "id": common.next_id("msg"), "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def carries_tool_result(body: dict[str, Any]) -> bool:
    """Whether the request's last turn is a tool's result (the second turn of the task)."""
    return any(item.get("type") in TOOL_RESULTS for item in _last_turn(body.get("input") or []))


def plan_output(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The output items that answer a Responses API request body."""
    turn = _last_turn(body.get("input") or [])
    if carries_tool_result(body):
        return [_message(common.TEXT_AFTER_TOOL)]
    for item in turn:
        for text in _texts(item):
            task = common.write_task(text)
            call = task and _write_call(_tools(body), *task)
            if call:
                return [call]
    return [_message(common.TEXT_OTHERWISE)]


def _response(body: dict[str, Any], output: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return {
        "id": common.next_id("resp"), "object": "response", "status": status, "model": body.get("model", "standin"),
        "output": output,
        "usage": {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 5,
                  "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 15},
    }


def response_object(body: dict[str, Any]) -> dict[str, Any]:
    return _response(body, plan_output(body), "completed")


def response_events(body: dict[str, Any]) -> str:
    """The streaming answer: the whole server-sent event sequence of one response."""
    done = response_object(body)
    started = {**done, "status": "in_progress", "output": []}
    started.pop("usage")
    numbers = iter(range(1, 1000))

    def event(kind: str, **data: Any) -> str:
        return common.sse({"type": kind, "sequence_number": next(numbers), **data}, kind)

    events = [event("response.created", response=started), event("response.in_progress", response=started)]
    for index, item in enumerate(done["output"]):
        if item["type"] == "message":
            opening = {**item, "status": "in_progress", "content": []}
            events.append(event("response.output_item.added", output_index=index, item=opening))
            for part_index, part in enumerate(item["content"]):
                events += [
                    event("response.content_part.added", item_id=item["id"], output_index=index,
                          content_index=part_index, part={**part, "text": ""}),
                    event("response.output_text.delta", item_id=item["id"], output_index=index,
                          content_index=part_index, delta=part["text"]),
                    event("response.output_text.done", item_id=item["id"], output_index=index,
                          content_index=part_index, text=part["text"]),
                    event("response.content_part.done", item_id=item["id"], output_index=index,
                          content_index=part_index, part=part),
                ]
        else:
            events.append(event("response.output_item.added", output_index=index, item=item))
        events.append(event("response.output_item.done", output_index=index, item=item))
    events.append(event("response.completed", response=done))
    return "".join(events)


def app(method: str, route: str, query: str, body: Any) -> common.Answer | None:
    if method == "POST" and route.endswith("/responses") and isinstance(body, dict):
        if body.get("stream"):
            return common.events_answer(response_events(body))
        return common.json_answer(response_object(body))
    return None


def serve(host: str, port: int, log_path: str) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start the stand-in on a daemon thread (common.serve)."""
    return common.serve(app, host, port, log_path)


if __name__ == "__main__":
    sys.exit(common.main(app, __doc__.splitlines()[0]))
