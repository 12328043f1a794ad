"""Hundreds of long turns at once on three processes sharing PostgreSQL: first frame, sessions, idle floor.

    .venv/bin/python benchmarks/concurrent_turns_bench.py [--turns 500] [--seconds 4] [--processes 3]

Three server processes (`create_app`, `PostgresStore` with the default pool of 10, the PostgreSQL
coordination) each answer with 20 words spread over `--seconds`. `--turns` clients, round-robin over the processes,
each turn on a new thread: once all at the same instant (a burst), then turn after turn so that
about `--turns` run at any moment (steady). Printed: first-frame latency p50/p99 and turn length
of both, against the same figures for 3 turns at once (the baseline, measured first in the same
run); the most PostgreSQL sessions each process held during the load against
its stated bound (`PostgresDatabase.max_connections` plus the coordination's `LISTEN` session);
and how long after the load each process took to fall back to its floor (its pool's `min_size`,
the lock session given back, the `LISTEN` session).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from server_process import ServerProcess  # noqa: E402

DSN = os.environ.get("CHATKIT_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
WORDS = 20
POOL_SIZE = 10
# The floor: the statements pool's `min_size` (1) and the coordination's `LISTEN` session.
FLOOR = 2


def serve(fd: int, schema: str, name: str, seconds: float) -> None:
    """Serve a slow word-streaming app on PostgreSQL under `application_name` `name`."""
    import uvicorn

    from chatkit.asgi import create_app
    from chatkit.coordination import PostgresCoordination
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

    class SlowWords(ChatKitServer[None]):
        async def respond(
            self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: None
        ) -> AsyncIterator[ThreadStreamEvent]:
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
            for index in range(WORDS):
                await asyncio.sleep(seconds / WORDS)
                yield ThreadItemUpdatedEvent(
                    item_id=item.id, update=AssistantMessageContentPartTextDelta(content_index=0, delta=f"w{index} ")
                )
            item.content = [AssistantMessageContent(text="".join(f"w{index} " for index in range(WORDS)))]
            yield ThreadItemDoneEvent(item=item)

    dsn = f"{DSN}{'&' if '?' in DSN else '?'}application_name={name}"
    store = PostgresStore(dsn, schema=schema, single_tenant=True, max_size=POOL_SIZE)
    app = create_app(SlowWords(store), coordination=PostgresCoordination.for_store(store))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on", ws="none", backlog=4096)
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])


class Server(ServerProcess):
    """One server process of this benchmark, known to PostgreSQL by `name`."""

    def __init__(self, schema: str, name: str, seconds: float) -> None:
        super().__init__(__file__, schema, name, str(seconds), backlog=4096)
        self.name = name


def create(text: str) -> dict[str, Any]:
    user_input = {"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}}
    return {"type": "threads.create", "params": {"input": user_input}}


async def turn(url: str) -> tuple[float, float, bool]:
    """One turn over a raw HTTP/1.1 connection: (first frame s, whole turn s, finished with the answer's done item).

    A lean client (no HTTP library), so that on a small machine the clients' CPU is not what is measured.
    """
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps(create("hi")).encode()
    head = (
        f"POST /chatkit HTTP/1.1\r\nhost: {host}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    ).encode()
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(head + body)
    first = 0.0
    received = b""
    while data := await reader.read(65536):
        received += data
        if not first and b"data: " in received:
            first = time.perf_counter() - started
    writer.close()
    # Each frame arrives whole in one chunk, so the done item's type and kind sit together.
    done = b'"type":"thread.item.done","item":{"type":"assistant_message"' in received or (
        b'"thread.item.done"' in received and b'"assistant_message"' in received.rsplit(b"thread.item.done", 1)[-1]
    )
    return first, time.perf_counter() - started, done


async def sessions(names: list[str]) -> dict[str, int]:
    async with await psycopg.AsyncConnection.connect(DSN, autocommit=True) as conn:
        rows = await (
            await conn.execute(
                "SELECT application_name, count(*) FROM pg_stat_activity WHERE application_name = ANY(%s) GROUP BY 1",
                (names,),
            )
        ).fetchall()
    counts = dict.fromkeys(names, 0)
    counts.update({name: int(count) for name, count in rows})
    return counts


async def load(
    servers: list[Server], turns: int, seconds: float, steady: float | None
) -> tuple[list[tuple[float, float, bool]], dict[str, int]]:
    """`turns` clients at once, round-robin over the servers; their turns' results, and the most sessions
    each process held meanwhile.

    With `steady` None every client sends one turn, all at the same instant (a burst). Otherwise each
    client starts at a random moment of the first turn's length, then sends turn after turn for
    `steady` seconds, so about `turns` turns run at any moment; the first turn's length is warm-up,
    not counted.
    """
    names = [server.name for server in servers]
    peak = dict.fromkeys(names, 0)
    running = True

    async def sample() -> None:
        while running:
            for name, count in (await sessions(names)).items():
                peak[name] = max(peak[name], count)
            await asyncio.sleep(0.1)

    results: list[tuple[float, float, bool]] = []

    async def client(number: int) -> None:
        url = servers[number % len(servers)].url
        if steady is None:
            results.append(await turn(url))
            return
        begin = time.monotonic()
        await asyncio.sleep(random.uniform(0, seconds))
        while time.monotonic() - begin < steady:
            started = time.monotonic()
            outcome = await turn(url)
            if started - begin >= seconds:
                results.append(outcome)

    sampler = asyncio.create_task(sample())
    await asyncio.gather(*(client(n) for n in range(turns)))
    running = False
    await sampler
    return results, peak


def summary(results: list[tuple[float, float, bool]]) -> tuple[float, float, float, int]:
    firsts = sorted(first for first, _, _ in results)
    lengths = [length for _, length, _ in results]
    p99 = firsts[min(len(firsts) - 1, int(0.99 * len(firsts)))]
    return statistics.median(firsts), p99, statistics.median(lengths), sum(1 for *_, done in results if not done)


async def main(turns: int, seconds: float, processes: int) -> int:
    schema = f"bench_turns_{uuid.uuid4().hex[:8]}"
    names = [f"bench-turns-{uuid.uuid4().hex[:6]}-{n}" for n in range(processes)]
    servers = [Server(schema, name, seconds) for name in names]
    try:
        for server in servers:
            await server.__aenter__()
        print(f"{processes} processes, pool max_size {POOL_SIZE} each, turns of {WORDS} words over {seconds:g} s")
        base = summary((await load(servers, processes, seconds, None))[0])
        burst, burst_peak = await load(servers, turns, seconds, None)
        steady, steady_peak = await load(servers, turns, seconds, 4 * seconds)
        bound = POOL_SIZE + 1 + 1  # statements, the turn lock session, LISTEN
        print(f"{'':32}{'turns':>7}{'first frame p50':>17}{'p99':>9}{'turn p50':>10}{'unfinished':>12}")
        rows = (
            (f"{processes} at once (baseline)", base),
            (f"{turns} at once (a burst)", summary(burst)),
            (f"about {turns} running (steady)", summary(steady)),
        )
        counts = (processes, len(burst), len(steady))
        for (label, (p50, p99, length, unfinished)), count in zip(rows, counts, strict=True):
            print(f"{label:32}{count:7}{p50 * 1000:14.0f} ms{p99 * 1000:6.0f} ms{length:8.2f} s{unfinished:12}")
        burst_ratio, steady_ratio = rows[1][1][1] / base[1], rows[2][1][1] / base[1]
        print(f"p99 first frame against the baseline: burst x{burst_ratio:.1f}, steady x{steady_ratio:.1f}")
        peak = {name: max(burst_peak[name], steady_peak[name]) for name in names}
        print(f"most sessions per process during the load: {sorted(peak.values())} (bound {bound})")
        loaded = (summary(burst)[3] + summary(steady)[3],)
        started = time.monotonic()
        now = await sessions(names)
        while time.monotonic() - started < 180:
            now = await sessions(names)
            if all(count <= FLOOR for count in now.values()):
                break
            await asyncio.sleep(1)
        print(f"back to the floor ({FLOOR} sessions each) {time.monotonic() - started:.0f} s after the load: {now}")
        return 1 if loaded[0] else 0
    finally:
        for server in servers:
            if server.process is not None:
                await server.__aexit__()
        async with await psycopg.AsyncConnection.connect(DSN, autocommit=True) as conn:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5]))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--turns", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--processes", type=int, default=3)
    arguments = parser.parse_args()
    sys.exit(asyncio.run(main(arguments.turns, arguments.seconds, arguments.processes)))
