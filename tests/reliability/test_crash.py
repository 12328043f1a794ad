"""Crash safety: `kill -9` a server in the middle of 20 streams, restart it, and find everything confirmed.

Every item a client received as `thread.item.done` must be in the store after the restart, the
SQLite file must pass `PRAGMA integrity_check`, and every thread must load and take a new turn.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx
import pytest

from tests.reliability.clients import Turn, all_items, message_request, post_json, stream_turn
from tests.reliability.processes import store_options
from tests.reliability.serving import ServerProcess
from tests.stores.backends import PERSISTENT_BACKENDS

CLIENTS = 20
USER = "crash"
# Twenty deltas 50 ms apart, twice: a turn streams for about two seconds.
PACE = ["--deltas", "20", "--pause", "0.05"]


async def client_loop(client: httpx.AsyncClient, url: str, number: int, turns: list[Turn]) -> None:
    """Start a thread, then keep adding turns to it until the server goes away."""
    thread_id = None
    for index in range(1000):
        turn = await stream_turn(client, url, message_request(f"client {number} turn {index}", thread_id), USER)
        turns.append(turn)
        thread_id = thread_id or turn.thread_id
        if not turn.completed:
            return


@pytest.mark.parametrize("backend", PERSISTENT_BACKENDS)
async def test_kill_9_mid_stream_loses_nothing_confirmed(backend: str, tmp_path: Path) -> None:
    async with store_options(backend, tmp_path) as options:
        first = ServerProcess(*options, *PACE, log=tmp_path / "first.log")
        second = ServerProcess(*options, *PACE, log=tmp_path / "second.log")
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        try:
            await first.start()
            turns: list[Turn] = []
            async with httpx.AsyncClient(timeout=30, limits=limits) as client:
                url = f"{first.url}/chatkit"
                tasks = [asyncio.create_task(client_loop(client, url, number, turns)) for number in range(CLIENTS)]
                # Into the second turn of every client: first turns done, second ones mid-stream.
                await asyncio.sleep(3.0)
                await first.kill()
                await asyncio.wait_for(asyncio.gather(*tasks), 30)

            interrupted = [turn for turn in turns if turn.error is not None]
            assert len(interrupted) == CLIENTS, [turn.error for turn in turns]
            mid_stream = [turn for turn in interrupted if turn.done_items]
            assert len(mid_stream) >= CLIENTS // 2, [(len(turn.events), turn.error) for turn in interrupted]
            if backend == "sqlite":
                assert await asyncio.to_thread(integrity_check, tmp_path / "chat.db") == "ok"

            await second.start()
            async with httpx.AsyncClient(timeout=30, limits=limits) as client:
                url = f"{second.url}/chatkit"
                confirmed: dict[str, set[str]] = {}
                for turn in turns:
                    if turn.thread_id is not None:
                        confirmed.setdefault(turn.thread_id, set()).update(item["id"] for item in turn.done_items)
                assert len(confirmed) == CLIENTS
                listed = await post_json(client, url, {"type": "threads.list", "params": {"limit": 100}}, USER)
                assert {thread["id"] for thread in listed["data"]} == set(confirmed)
                for thread_id, item_ids in confirmed.items():
                    loaded = await post_json(
                        client, url, {"type": "threads.get_by_id", "params": {"thread_id": thread_id}}, USER
                    )
                    assert loaded["id"] == thread_id
                    stored = {item["id"] for item in await all_items(client, url, thread_id, USER)}
                    assert item_ids <= stored, f"lost {item_ids - stored} of {thread_id}"

                async def new_turn(thread_id: str) -> Turn:
                    return await stream_turn(client, url, message_request("after the crash", thread_id), USER)

                after = await asyncio.gather(*(new_turn(thread_id) for thread_id in confirmed))
                assert all(turn.completed for turn in after), [(turn.status, turn.body, turn.error) for turn in after]
        finally:
            await first.stop()
            await second.stop()


def integrity_check(path: Path) -> str:
    """SQLite's own verdict on the file."""
    connection = sqlite3.connect(path)
    try:
        return connection.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        connection.close()
