"""HTTP clients for the load, crash and concurrency runs: a turn streamed event by event, timed."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.reliability.world import user_input


def message_request(text: str, thread_id: str | None = None) -> dict[str, Any]:
    """`threads.create` (no thread id) or `threads.add_user_message` with `text`."""
    if thread_id is None:
        return {"type": "threads.create", "params": {"input": user_input(text)}}
    return {"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": user_input(text)}}


@dataclass
class Turn:
    """What a client saw of one streaming request."""

    status: int | None = None
    events: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    error: str | None = None
    """Why the request broke off (a transport error), if it did."""
    first_event_seconds: float | None = None
    body: str = ""

    @property
    def thread_id(self) -> str | None:
        """The thread the stream created or was about."""
        for event in self.events:
            if event["type"] in ("thread.created", "thread.updated"):
                return event["thread"]["id"]
            if event["type"] == "thread.item.done":
                return event["item"]["thread_id"]
        return None

    @property
    def done_items(self) -> list[dict[str, Any]]:
        """Every item the stream confirmed with `thread.item.done`."""
        return [event["item"] for event in self.events if event["type"] == "thread.item.done"]

    @property
    def error_events(self) -> list[dict[str, Any]]:
        """The stream's `error` events."""
        return [event for event in self.events if event["type"] == "error"]

    @property
    def completed(self) -> bool:
        """A 200 stream that ran to its end: the answer's last message confirmed, and no error event."""
        return (
            self.status == 200
            and self.error is None
            and not self.error_events
            and any(item["type"] == "assistant_message" for item in self.done_items)
        )


async def stream_turn(client: httpx.AsyncClient, url: str, request: dict[str, Any], user: str) -> Turn:
    """POST a streaming request and read its events as they arrive; transport errors end the turn."""
    turn = Turn()
    started = time.monotonic()
    headers = {"x-user": user, "content-type": "application/json"}
    try:
        async with client.stream("POST", url, content=json.dumps(request), headers=headers) as response:
            turn.status = response.status_code
            if response.status_code != 200:
                turn.body = (await response.aread()).decode(errors="replace")
                return turn
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    if turn.first_event_seconds is None:
                        turn.first_event_seconds = time.monotonic() - started
                    turn.events.append(json.loads(line[len("data: ") :]))
    except httpx.HTTPError as error:
        turn.error = f"{type(error).__name__}: {error}"
    return turn


async def post_json(client: httpx.AsyncClient, url: str, request: dict[str, Any], user: str) -> Any:
    """A plain request that must succeed; its JSON answer."""
    response = await client.post(url, json=request, headers={"x-user": user})
    response.raise_for_status()
    return response.json()


async def all_items(client: httpx.AsyncClient, url: str, thread_id: str, user: str) -> list[dict[str, Any]]:
    """Every visible item of a thread, oldest first, read page by page through `items.list`."""
    items: list[dict[str, Any]] = []
    after = None
    while True:
        params = {"thread_id": thread_id, "limit": 200, "order": "asc", "after": after}
        page = await post_json(client, url, {"type": "items.list", "params": params}, user)
        items.extend(page["data"])
        if not page["has_more"]:
            return items
        after = page["after"]


def turns_of(items: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """Split a thread's items into turns: (user text, the assistant texts that follow it)."""
    turns: list[tuple[str, list[str]]] = []
    for item in items:
        if item["type"] == "user_message":
            turns.append((item["content"][0]["text"], [item["id"]]))
        else:
            assert item["type"] == "assistant_message", item
            assert turns, "an answer before any question"
            turns[-1][1].append(item["content"][0]["text"])
    return turns
