"""Turn policies across two server processes sharing one PostgreSQL database."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.asgi.test_turns import kinds
from tests.http import parse_events, user_message
from tests.stores.backends import drop_postgres_schema, postgres_schema, require_postgres

ROOT = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def two_processes(tmp_path: Path, policy: str) -> AsyncIterator[tuple[str, str]]:
    """Two app processes on one PostgreSQL schema; yields their base URLs."""
    dsn = require_postgres()
    schema = postgres_schema(tmp_path)
    processes: list[asyncio.subprocess.Process] = []
    urls: list[str] = []
    try:
        for _ in range(2):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            sock.listen(64)
            urls.append(f"http://127.0.0.1:{sock.getsockname()[1]}")
            processes.append(
                await asyncio.create_subprocess_exec(
                    *(sys.executable, "-m", "tests.asgi.pg_app", str(sock.fileno()), dsn, schema, policy),
                    cwd=ROOT,
                    pass_fds=[sock.fileno()],
                    env={**os.environ, "PYTHONWARNINGS": "error"},
                )
            )
            sock.close()
        async with httpx.AsyncClient(timeout=30) as client:
            for url in urls:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        await client.post(f"{url}/chatkit", json={"type": "threads.list", "params": {}})
                        break
                    except httpx.TransportError:
                        assert time.monotonic() < deadline, "server process did not start"
                        await asyncio.sleep(0.1)
        yield urls[0], urls[1]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            await asyncio.wait_for(process.wait(), 10)
        await drop_postgres_schema(schema)


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
    async with two_processes(tmp_path, "wait") as (first, second), httpx.AsyncClient(timeout=30) as client:
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
    async with two_processes(tmp_path, "reject") as (first, second), httpx.AsyncClient(timeout=30) as client:
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
