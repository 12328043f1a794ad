"""Concurrency: two server processes on one PostgreSQL database, 50 clients, turns to the same 5 threads.

Turns on one thread must take turns across both processes: in the stored thread each user message
is followed by exactly its own answer (the canned answers name the message they reply to); no
item is lost or stored twice.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx

from tests.reliability.clients import Turn, all_items, message_request, stream_turn, turns_of
from tests.reliability.processes import store_options, tagged, terminate_backends
from tests.reliability.scripted import PARTS
from tests.reliability.serving import ServerProcess

CLIENTS = 50
THREADS = 5
TURNS_PER_CLIENT = 2
USER = "crowd"
PACE = ["--deltas", "4", "--pause", "0.02"]


async def test_two_processes_serialize_the_turns_of_a_thread(tmp_path: Path) -> None:
    async with store_options("postgres", tmp_path) as options:
        servers = [ServerProcess(*options, *PACE, log=tmp_path / f"server{n}.log") for n in range(2)]
        try:
            for server in servers:
                await server.start()
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
            async with httpx.AsyncClient(timeout=60, limits=limits) as client:
                urls = [f"{server.url}/chatkit" for server in servers]
                seeds = [
                    await stream_turn(client, urls[n % 2], message_request(f"thread {n}"), USER) for n in range(THREADS)
                ]
                thread_ids = [turn.thread_id for turn in seeds]
                assert all(turn.completed for turn in seeds) and None not in thread_ids

                async def client_turns(number: int) -> list[Turn]:
                    thread_id = thread_ids[number % THREADS]
                    url = urls[(number // THREADS) % 2]
                    return [
                        await stream_turn(
                            client, url, message_request(f"client {number} turn {index}", thread_id), USER
                        )
                        for index in range(TURNS_PER_CLIENT)
                    ]

                results = await asyncio.gather(*(client_turns(number) for number in range(CLIENTS)))
                turns = [turn for client_turns_ in results for turn in client_turns_]
                assert all(turn.completed for turn in turns), [
                    (t.status, t.body, t.error) for t in turns if not t.completed
                ]

                sent = {f"client {n} turn {i}" for n in range(CLIENTS) for i in range(TURNS_PER_CLIENT)}
                stored_texts: list[str] = []
                for thread_id in thread_ids:
                    assert thread_id is not None
                    items = await all_items(client, urls[0], thread_id, USER)
                    ids = [item["id"] for item in items]
                    assert len(ids) == len(set(ids)), "an item was stored twice"
                    for text, (message_id, *answers) in turns_of(items):
                        stored_texts.append(text)
                        # Exactly this message's own answer follows it: nothing from another turn in between.
                        assert [answer.split(":")[0] for answer in answers] == [
                            f"{message_id} part {part}" for part in range(1, PARTS + 1)
                        ], (text, answers)
                confirmed = {item["id"] for turn in [*seeds, *turns] for item in turn.done_items}
                stored = {
                    item["id"]
                    for thread_id in thread_ids
                    for item in await all_items(client, urls[1], thread_id or "", USER)
                }
                assert confirmed == stored
                assert sorted(stored_texts) == sorted([*sent, *(f"thread {n}" for n in range(THREADS))])
        finally:
            for server in servers:
                await server.stop()


async def test_a_turn_whose_lock_session_dies_does_not_overlap_the_next(tmp_path: Path) -> None:
    tags = [f"chatkit-lock-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    async with store_options("postgres", tmp_path) as options:
        # Forty deltas 50 ms apart, twice: the first turn streams for four seconds.
        servers = [
            ServerProcess(*tagged(options, tag), "--deltas", "40", "--pause", "0.05", log=tmp_path / f"{tag}.log")
            for tag in tags
        ]
        try:
            for server in servers:
                await server.start()
            async with httpx.AsyncClient(timeout=60) as client:
                urls = [f"{server.url}/chatkit" for server in servers]
                seed = await stream_turn(client, urls[0], message_request("first"), USER)
                thread_id = seed.thread_id
                holder = asyncio.create_task(stream_turn(client, urls[0], message_request("long", thread_id), USER))
                await asyncio.sleep(1.0)
                waiter = asyncio.create_task(stream_turn(client, urls[1], message_request("waiter", thread_id), USER))
                await asyncio.sleep(1.0)
                # The holder's sessions die (a failover, a network blip, an idle-session timeout).
                assert await terminate_backends(tags[0]) > 0
                await asyncio.wait_for(asyncio.gather(holder, waiter), 60)
                assert thread_id is not None
                for _, (message_id, *answers) in turns_of(await all_items(client, urls[1], thread_id, USER)):
                    # A turn may end early, but whatever follows a message answers that message, in order.
                    expected = [f"{message_id} part {part}" for part in range(1, PARTS + 1)]
                    assert [answer.split(":")[0] for answer in answers] == expected[: len(answers)]
        finally:
            for server in servers:
                await server.stop()
