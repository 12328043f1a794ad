"""Client side of the rejoin route for the HTTP tests: reading numbered frames, starting a turn and leaving."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from tests.http import user_message


def numbered_events(body: bytes) -> list[tuple[int | None, dict[str, Any]]]:
    """The (id, event) pairs of a rejoin body: `id: N` then `data: <json>`, or a bare closing `data:` frame."""
    assert body.endswith(b"\n\n") or not body, body[-200:]
    events: list[tuple[int | None, dict[str, Any]]] = []
    for frame in body.split(b"\n\n")[:-1]:
        index: int | None = None
        if frame.startswith(b"id: "):
            line, frame = frame.split(b"\n", 1)
            index = int(line[len(b"id: ") :])
        assert frame.startswith(b"data: "), frame
        events.append((index, json.loads(frame[len(b"data: ") :])))
    return events


async def start_and_leave(
    client: httpx.AsyncClient, url: str, text: str, thread_id: str | None, frames: int, user: str = "alice"
) -> tuple[list[dict[str, Any]], str]:
    """Send a message, read the first `frames` frames of its stream and hang up; those events and the thread id."""
    body = b""
    request = user_message(text, thread_id)
    async with client.stream("POST", f"{url}/chatkit", json=request, headers={"x-user": user}) as response:
        assert response.status_code == 200
        async for chunk in response.aiter_raw():
            body += chunk
            if body.count(b"\n\n") >= frames:
                break
    events = [json.loads(frame[len(b"data: ") :]) for frame in body.split(b"\n\n")[:frames]]
    if thread_id is None:
        thread_id = events[0]["thread"]["id"]
    assert thread_id is not None
    await asyncio.sleep(0)
    return events, thread_id


async def rejoin(
    client: httpx.AsyncClient, url: str, thread_id: str, after: int | None = None, user: str = "alice"
) -> httpx.Response:
    """GET the thread's running turn from frame `after` on."""
    params = {} if after is None else {"after": str(after)}
    return await client.get(f"{url}/chatkit/threads/{thread_id}/stream", params=params, headers={"x-user": user})
