"""Shared by the compatibility checks: send requests through `ChatKitServer.process()` and read the answers."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from _report import expect
from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult

TContext = TypeVar("TContext")


def user_message(text: str, thread_id: str | None = None) -> dict[str, Any]:
    """A `threads.create` request, or `threads.add_user_message` on `thread_id`."""
    user_input = {"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}}
    if thread_id is None:
        return {"type": "threads.create", "params": {"input": user_input}}
    return {"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": user_input}}


async def stream(server: ChatKitServer[TContext], request: dict[str, Any], context: TContext) -> list[dict[str, Any]]:
    """Send a streaming request and return its events, each frame checked to be one `data:` line."""
    result = await server.process(json.dumps(request).encode(), context)
    expect(isinstance(result, StreamingResult), f"{request['type']} did not stream")
    assert isinstance(result, StreamingResult)
    events: list[dict[str, Any]] = []
    async for frame in result:
        expect(frame.startswith(b"data: ") and frame.endswith(b"\n\n"), f"not an SSE frame: {frame[:80]!r}")
        events.append(json.loads(frame[len(b"data: ") : -2]))
    errors = [event for event in events if event["type"] == "error"]
    expect(not errors, f"{request['type']} streamed an error: {errors}")
    return events


async def call(server: ChatKitServer[TContext], request: dict[str, Any], context: TContext) -> Any:
    """Send a plain request and return its decoded JSON answer."""
    result = await server.process(json.dumps(request).encode(), context)
    expect(isinstance(result, NonStreamingResult), f"{request['type']} streamed")
    assert isinstance(result, NonStreamingResult)
    return json.loads(result.json)


def types_of(events: list[dict[str, Any]]) -> list[str]:
    """The event types in order."""
    return [event["type"] for event in events]


def done_items(events: list[dict[str, Any]], item_type: str) -> list[dict[str, Any]]:
    """The items of the `thread.item.done` events of one item type."""
    return [e["item"] for e in events if e["type"] == "thread.item.done" and e["item"]["type"] == item_type]
