"""The first-turn race: messages sent to a new thread while its `threads.create` still streams.

A client learns the new thread's id from the first frame and may post to it at once (a second tab,
a retry, a script). The first turn holds the thread like any other: under `wait` the racers run
after it, under `reject` they are refused with 409 (unless they come late), and in the stored
thread every user message is followed by exactly its own answer. Checked in one process on SQLite
and PostgreSQL, and across two server processes sharing a PostgreSQL database.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatkit.asgi import create_app
from tests.http import serving
from tests.reliability.clients import Turn, all_items, message_request, stream_turn, turns_of
from tests.reliability.processes import store_options
from tests.reliability.scripted import PARTS, CannedServer
from tests.reliability.serving import ServerProcess, user_context
from tests.stores.backends import PERSISTENT_BACKENDS, make_store

THREADS = 10
RACERS = 3
USER = "racer"


async def create_and_race(client: httpx.AsyncClient, url: str, race_urls: list[str]) -> tuple[Turn, list[Turn]]:
    """Stream a `threads.create`, firing `RACERS` messages at the new thread as soon as its id arrives."""
    created = Turn()
    racing: list[asyncio.Task[Turn]] = []
    headers = {"x-user": USER, "content-type": "application/json"}
    async with client.stream("POST", url, content=json.dumps(message_request("first")), headers=headers) as response:
        created.status = response.status_code
        async for line in response.aiter_lines():
            if not line.startswith("data: "):
                continue
            event = json.loads(line[len("data: ") :])
            created.events.append(event)
            if event["type"] == "thread.created":
                thread_id = event["thread"]["id"]
                racing = [
                    asyncio.create_task(
                        stream_turn(
                            client, race_urls[n % len(race_urls)], message_request(f"racer {n}", thread_id), USER
                        )
                    )
                    for n in range(RACERS)
                ]
    return created, list(await asyncio.gather(*racing))


async def check_threads(client: httpx.AsyncClient, url: str, races: list[tuple[Turn, list[Turn]]], policy: str) -> None:
    """Every thread holds the first turn, then exactly the racers that were let in, each turn whole."""
    for created, racers in races:
        assert created.completed, (created.status, created.error)
        admitted = [racer for racer in racers if racer.status == 200]
        refused = [racer for racer in racers if racer.status != 200]
        assert all(racer.completed for racer in admitted), [(r.status, r.error) for r in admitted]
        assert all(racer.status == 409 and "thread_busy" in racer.body for racer in refused), [
            (r.status, r.body) for r in refused
        ]
        if policy == "wait":
            assert not refused
        assert created.thread_id is not None
        turns = turns_of(await all_items(client, url, created.thread_id, USER))
        assert turns[0][0] == "first"
        assert sorted(text for text, _ in turns[1:]) == sorted(
            f"racer {n}" for n, racer in enumerate(racers) if racer.status == 200
        )
        for text, (message_id, *answers) in turns:
            # The answers that follow a message are its own, whole: no other turn in between.
            assert [answer.split(":")[0] for answer in answers] == [
                f"{message_id} part {part}" for part in range(1, PARTS + 1)
            ], (text, answers)


@pytest.mark.parametrize("policy", ["wait", "reject"])
@pytest.mark.parametrize("backend", PERSISTENT_BACKENDS)
async def test_messages_racing_a_new_threads_first_turn(backend: str, policy: Any, tmp_path: Path) -> None:
    async with make_store(backend, tmp_path) as store:
        # Six deltas 40 ms apart, twice: the first turn streams for half a second after thread.created.
        server = CannedServer(store, pause=0.04)
        app = create_app(server, context=user_context, turn_policy=policy, turn_wait_timeout=30)
        async with serving(app) as base, httpx.AsyncClient(timeout=60) as client:
            url = f"{base}/chatkit"
            races = await asyncio.gather(*(create_and_race(client, url, [url]) for _ in range(THREADS)))
            await check_threads(client, url, races, policy)


async def test_messages_racing_a_new_thread_through_another_process(tmp_path: Path) -> None:
    async with store_options("postgres", tmp_path) as options:
        servers = [ServerProcess(*options, "--pause", "0.04", log=tmp_path / f"server{n}.log") for n in range(2)]
        try:
            for server in servers:
                await server.start()
            async with httpx.AsyncClient(timeout=60) as client:
                urls = [f"{server.url}/chatkit" for server in servers]
                # Created on the first process, raced from both.
                races = await asyncio.gather(*(create_and_race(client, urls[0], urls) for _ in range(THREADS)))
                await check_threads(client, urls[1], races, "wait")
        finally:
            for server in servers:
                await server.stop()
