"""Coordination benchmark: what sharing running turns through PostgreSQL costs, against one process.

    .venv/bin/python benchmarks/coordination_bench.py [--turns 200] [--interrupts 60] [--dsn DSN]

Prints, from one run on the local PostgreSQL (`CHATKIT_TEST_POSTGRES_DSN`, default the test
database), each figure with its single-process baseline (`MemoryCoordination`, the same store):

- first-frame latency and server CPU per turn, over HTTP, server processes on `PostgresStore`;
- frames per second delivered to 1, 10 and 100 followers of one turn run by another process;
- the time a follower takes to catch up on a 2,000-frame turn;
- the latency of an interrupt sent to one server process for a turn running in another.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from server_process import ServerProcess  # noqa: E402

from chatkit.coordination import Coordination, MemoryCoordination, PostgresCoordination, TurnKey  # noqa: E402

DSN = os.environ.get("CHATKIT_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
# A text delta frame as a model streams them: about 150 bytes.
DELTA = b'data: {"type":"thread.item.updated","item_id":"msg_0123456789abcdef","update":{"type":"assistant_message.content_part.text_delta","content_index":0,"delta":"word "}}\n\n'  # noqa: E501


# -- the server processes ------------------------------------------------------------------------


def serve(fd: int, schema: str, coordination: str, policy: str, words: int) -> None:
    """Serve a word-streaming app on PostgreSQL; `coordination` is "postgres" or "memory"."""
    import uvicorn

    from chatkit.asgi import create_app
    from chatkit.server import ChatKitServer
    from chatkit.stores import PostgresStore
    from chatkit.types import (
        AssistantMessageContent,
        AssistantMessageContentPartAdded,
        AssistantMessageContentPartTextDelta,
        AssistantMessageItem,
        ThreadItemAddedEvent,
        ThreadItemDoneEvent,
        ThreadItemUpdatedEvent,
        ThreadMetadata,
        ThreadStreamEvent,
        UserMessageItem,
    )

    class Words(ChatKitServer[None]):
        async def respond(
            self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: None
        ) -> AsyncIterator[ThreadStreamEvent]:
            text = input_user_message.content[0].text if input_user_message else ""  # type: ignore[union-attr]
            item = AssistantMessageItem(
                id=self.store.generate_item_id("message", thread, context),
                thread_id=thread.id,
                created_at=datetime.now(),
                content=[],
            )
            yield ThreadItemAddedEvent(item=item)
            yield ThreadItemUpdatedEvent(
                item_id=item.id,
                update=AssistantMessageContentPartAdded(content_index=0, content=AssistantMessageContent(text="")),
            )
            for index in range(words):
                if text == "slow":
                    await asyncio.sleep(0.01)
                yield ThreadItemUpdatedEvent(
                    item_id=item.id, update=AssistantMessageContentPartTextDelta(content_index=0, delta=f"w{index} ")
                )
            item.content = [AssistantMessageContent(text="".join(f"w{index} " for index in range(words)))]
            yield ThreadItemDoneEvent(item=item)

    store = PostgresStore(DSN, schema=schema, single_tenant=True, max_size=4)
    chosen = PostgresCoordination.for_store(store) if coordination == "postgres" else MemoryCoordination()
    app = create_app(Words(store), turn_policy=policy, coordination=chosen)  # type: ignore[arg-type]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", ws="none")
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])


class Server(ServerProcess):
    """One server process of this benchmark."""

    def __init__(self, schema: str, coordination: str, policy: str = "wait", words: int = 50) -> None:
        super().__init__(__file__, schema, coordination, policy, str(words))


def message(text: str, thread_id: str | None = None) -> dict[str, Any]:
    user_input = {"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}}
    if thread_id is None:
        return {"type": "threads.create", "params": {"input": user_input}}
    return {"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": user_input}}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# -- 1. first frame and CPU per turn -------------------------------------------------------------


async def turn_costs(schema: str, coordination: str, turns: int) -> tuple[float, float, float]:
    """First-frame latency p50/p99 (ms) and server CPU per turn (ms), sequential turns over 20 threads.

    Turns go round the threads, so none waits for the end of the previous turn on its thread.
    """
    async with Server(schema, coordination) as server, httpx.AsyncClient(timeout=30) as client:
        thread_ids = []
        for _ in range(20):
            created = await client.post(f"{server.url}/chatkit", json=message("hello"))
            thread_ids.append(json.loads(created.content.split(b"\n\n")[0][6:])["thread"]["id"])
        latencies: list[float] = []
        cpu_before = server.cpu()
        for index in range(turns):
            request = message("hi", thread_ids[index % len(thread_ids)])
            started = time.perf_counter()
            async with client.stream("POST", f"{server.url}/chatkit", json=request) as response:
                first = True
                async for _chunk in response.aiter_raw():
                    if first:
                        latencies.append((time.perf_counter() - started) * 1000)
                        first = False
        # Background writes finish within a heartbeat.
        await asyncio.sleep(1.2)
        cpu = (server.cpu() - cpu_before) / turns * 1000
    return percentile(latencies, 0.5), percentile(latencies, 0.99), cpu


# -- 2. fan-out and 3. catch-up, at the coordination's interface ---------------------------------


async def fan_out(here: Coordination, there: Coordination, followers: int, frames: int) -> tuple[float, float]:
    """Frames per second each of `followers` receives, and the rate the turn published at (bursts of 10)."""
    key = TurnKey.of("bench", uuid.uuid4().hex)
    turn = await here.begin(key, lambda: None)
    turn.publish(DELTA)
    await asyncio.sleep(0.1)

    async def follow() -> int:
        iterator = await there.follow(key, 0)
        assert iterator is not None
        return sum([1 async for _ in iterator])

    tasks = [asyncio.create_task(follow()) for _ in range(followers)]
    await asyncio.sleep(0.1)
    started = time.perf_counter()
    for index in range(1, frames):
        turn.publish(DELTA)
        if index % 10 == 0:
            await asyncio.sleep(0.001)
    published = time.perf_counter() - started
    await turn.end()
    counts = await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    assert counts == [frames] * followers, counts
    return frames / elapsed, frames / published


async def catch_up(here: Coordination, make_there: Any, frames: int) -> float:
    """Milliseconds a new follower (in a process that never saw the turn) takes to read `frames` frames."""
    key = TurnKey.of("bench", uuid.uuid4().hex)
    turn = await here.begin(key, lambda: None)
    for _ in range(frames):
        turn.publish(DELTA)
    await asyncio.sleep(0.5)
    there: Coordination = await make_there()
    try:
        await there.follow(TurnKey.of("bench", "warm-up"), 0)  # opens the connections
        started = time.perf_counter()
        iterator = await there.follow(key, 0)
        assert iterator is not None
        got = 0
        async for _ in iterator:
            got += 1
            if got == frames:
                break
        elapsed = (time.perf_counter() - started) * 1000
    finally:
        await turn.end()
        if there is not here:
            await there.aclose()
    return elapsed


# -- 4. interrupts across two processes ----------------------------------------------------------


async def slow_turn(
    client: httpx.AsyncClient, url: str, thread_id: str, streaming: asyncio.Event, ended: asyncio.Event
) -> float:
    """Run a long turn; `streaming` is set once it streams, `ended` when its stream ends (at the time returned)."""
    async with client.stream("POST", f"{url}/chatkit", json=message("slow", thread_id)) as response:
        received = 0
        async for chunk in response.aiter_raw():
            received += chunk.count(b"\n\n")
            if received >= 5:
                streaming.set()
    ended.set()
    return time.perf_counter()


async def interrupt_latencies(schema: str, coordination: str, rounds: int) -> list[float]:
    """Milliseconds from sending a message to process B until the turn running in A has stopped."""
    latencies: list[float] = []
    async with (
        Server(schema, coordination, "interrupt", words=3000) as first,
        Server(schema, coordination, "interrupt", words=3000) as second,
        httpx.AsyncClient(timeout=60) as client,
    ):
        created = await client.post(f"{first.url}/chatkit", json=message("hello"))
        thread_id = json.loads(created.content.split(b"\n\n")[0][6:])["thread"]["id"]
        target = second if coordination == "postgres" else first
        for _ in range(rounds):
            streaming, ended = asyncio.Event(), asyncio.Event()
            slow = asyncio.create_task(slow_turn(client, first.url, thread_id, streaming, ended))
            await asyncio.wait_for(streaming.wait(), 30)
            await asyncio.sleep(0.05)
            sent = time.perf_counter()
            newer = asyncio.create_task(client.post(f"{target.url}/chatkit", json=message("stop", thread_id)))
            await asyncio.wait_for(ended.wait(), 30)
            latencies.append((await slow - sent) * 1000)
            await newer
    return latencies


# -- the run --------------------------------------------------------------------------------------


async def drop_schema(schema: str) -> None:
    async with await psycopg.AsyncConnection.connect(DSN, autocommit=True) as conn:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


async def main(turns: int, interrupts: int) -> int:
    schema = f"chatkit_bench_coord_{uuid.uuid4().hex[:8]}"
    try:
        print(f"PostgreSQL: {DSN}; {os.cpu_count()} CPUs; frames of {len(DELTA)} bytes")
        print(f"\n1. first frame and server CPU per turn ({turns} turns of 50 deltas, one at a time over 20 threads)")
        for name in ("memory", "postgres"):
            p50, p99, cpu = await turn_costs(schema, name, turns)
            label = "single process (MemoryCoordination)" if name == "memory" else "PostgresCoordination"
            print(f"   {label:38} first frame p50 {p50:6.2f} ms  p99 {p99:6.2f} ms   CPU {cpu:5.2f} ms/turn")

        print("\n2. fan-out: frames per second each follower receives (5,000 frames, turn in another instance)")
        memory = MemoryCoordination()
        here = PostgresCoordination(DSN, schema=schema)
        there = PostgresCoordination(DSN, schema=schema)
        for followers in (1, 10, 100):
            single, offered = await fan_out(memory, memory, followers, 5000)
            shared, offered_pg = await fan_out(here, there, followers, 5000)
            print(
                f"   {followers:3} followers: single process {single:7.0f} frames/s (published at {offered:5.0f})"
                f"   PostgreSQL {shared:7.0f} frames/s (published at {offered_pg:5.0f})"
            )

        print("\n3. catch-up: a new follower reads a running 2,000-frame turn from its first frame")

        async def new_postgres() -> Coordination:
            return PostgresCoordination(DSN, schema=schema)

        async def same_memory() -> Coordination:
            return memory

        single_ms = statistics.median([await catch_up(memory, same_memory, 2000) for _ in range(5)])
        shared_ms = statistics.median([await catch_up(here, new_postgres, 2000) for _ in range(5)])
        print(f"   single process {single_ms:7.2f} ms   PostgreSQL (another process) {shared_ms:7.2f} ms (median of 5)")
        await here.aclose()
        await there.aclose()

        print(f"\n4. interrupt latency: message sent -> running turn's stream ended ({interrupts} rounds)")
        single = await interrupt_latencies(schema, "memory", interrupts)
        print(
            f"   same process (baseline)       p50 {percentile(single, 0.5):6.1f} ms  "
            f"p99 {percentile(single, 0.99):6.1f} ms  max {max(single):6.1f} ms"
        )
        across = await interrupt_latencies(schema, "postgres", interrupts)
        print(
            f"   across two processes (PG)     p50 {percentile(across, 0.5):6.1f} ms  "
            f"p99 {percentile(across, 0.99):6.1f} ms  max {max(across):6.1f} ms   target p99 < 100 ms"
        )
    finally:
        await drop_schema(schema)
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        fd, schema, coordination, policy, words = sys.argv[2:7]
        serve(int(fd), schema, coordination, policy, int(words))
        sys.exit(0)
    parser = argparse.ArgumentParser(description="Coordination benchmark")
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--interrupts", type=int, default=60)
    options = parser.parse_args()
    sys.exit(asyncio.run(main(options.turns, options.interrupts)))
