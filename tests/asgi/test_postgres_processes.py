"""Turn policies across two server processes sharing one PostgreSQL database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.asgi.test_turns import kinds
from tests.http import parse_events, postgres_app_processes, user_message

pytestmark = [pytest.mark.service, pytest.mark.process]


async def start_slow_turn(client: httpx.AsyncClient, url: str, thread_id: str) -> asyncio.Task[bytes]:
    """Start a one-second turn on `thread_id`; returns once it is streaming."""
    started = asyncio.Event()

    async def run() -> bytes:
        body = b""
        async with client.stream(
            "POST", f"{url}/chatkit", json=user_message("slow", thread_id), headers={"x-user": "alice"}
        ) as response:
            async for chunk in response.aiter_raw():
                body += chunk
                if b"slow:0" in body:
                    started.set()
        return body

    task = asyncio.create_task(run())
    await asyncio.wait_for(started.wait(), 10)
    return task


async def create_thread(client: httpx.AsyncClient, url: str) -> str:
    response = await client.post(f"{url}/chatkit", json=user_message("start"), headers={"x-user": "alice"})
    return parse_events(response.content)[0]["thread"]["id"]


async def thread_items(client: httpx.AsyncClient, url: str, thread_id: str) -> list[dict[str, Any]]:
    response = await client.post(
        f"{url}/chatkit",
        json={"type": "threads.get_by_id", "params": {"thread_id": thread_id}},
        headers={"x-user": "alice"},
    )
    return response.json()["items"]["data"]


async def test_wait_across_processes(tmp_path: Path) -> None:
    async with (
        postgres_app_processes(tmp_path, "tests.asgi.pg_app", "wait") as (first, second),
        httpx.AsyncClient(timeout=30) as client,
    ):
        thread_id = await create_thread(client, first)
        running = await start_slow_turn(client, first, thread_id)
        queued = await client.post(
            f"{second}/chatkit", json=user_message("next", thread_id), headers={"x-user": "alice"}
        )
        assert running.done()
        assert queued.status_code == 200
        await running
        texts = kinds(await thread_items(client, first, thread_id))
    slow_words = "".join(f"slow:{index} " for index in range(10))
    assert texts[2:] == [
        "user_message:slow",
        f"assistant_message:{slow_words}",
        "user_message:next",
        f"assistant_message:{''.join(f'next:{index} ' for index in range(10))}",
    ]


async def test_reject_across_processes(tmp_path: Path) -> None:
    async with (
        postgres_app_processes(tmp_path, "tests.asgi.pg_app", "reject") as (first, second),
        httpx.AsyncClient(timeout=30) as client,
    ):
        thread_id = await create_thread(client, first)
        running = await start_slow_turn(client, first, thread_id)
        refused = await client.post(
            f"{second}/chatkit", json=user_message("next", thread_id), headers={"x-user": "alice"}
        )
        assert refused.status_code == 409
        assert not running.done()
        await running
        texts = kinds(await thread_items(client, second, thread_id))
    assert "user_message:next" not in texts
    assert texts[-2] == "user_message:slow"
