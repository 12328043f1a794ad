"""What each ChatKit request costs PostgreSQL: round trips and bytes, counted on the wire.

    .venv/bin/python benchmarks/request_costs.py [--dsn postgresql://postgres@127.0.0.1:5432/test] [--repeat 20]

The app (`create_app` around a responder streaming 20 text deltas, `PostgresStore`, and the
coordination `create_app` picks for it) reaches PostgreSQL through a small TCP relay that reads
the client side of the wire protocol: every `Sync` or simple `Query` message is one round trip,
and bytes are counted both ways. Sessions are told apart by their `application_name`, so the
store's traffic (its pool and its turn-lock connections) and the coordination's are printed
apart. Run once with the PostgreSQL coordination and once with the in-memory one (a single
process), each request repeated and averaged after a warm-up; the figures feed docs/deployment.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

DELTAS = 20
STORE_APP = "chatkit-store"


@dataclass
class Traffic:
    """Round trips and bytes per `application_name`."""

    round_trips: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    sent: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    received: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    sessions: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    statements: list[tuple[str, str]] = field(default_factory=list)

    def reset(self) -> None:
        """Start counting afresh (open sessions stay counted)."""
        self.round_trips.clear()
        self.sent.clear()
        self.received.clear()
        self.statements.clear()


class Relay:
    """A loopback TCP relay to PostgreSQL that parses what clients send."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.traffic = Traffic()
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        """Listen on a free loopback port; returns it."""
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(self.host, self.port)
        # The startup message: length, protocol version, then name/value pairs.
        (length,) = struct.unpack("!i", await reader.readexactly(4))
        body = await reader.readexactly(length - 4)
        pairs = body[4:].split(b"\0")
        params = dict(zip(pairs[0::2], pairs[1::2], strict=False))
        name = params.get(b"application_name", b"").decode() or "(none)"
        upstream_writer.write(struct.pack("!i", length) + body)
        traffic = self.traffic
        traffic.sessions[name] += 1
        # Statement texts by prepared-statement name, and the one the next Sync completes.
        prepared: dict[bytes, str] = {}
        current = ""

        async def client_to_server() -> None:
            nonlocal current
            try:
                while True:
                    kind = await reader.readexactly(1)
                    (size,) = struct.unpack("!i", await reader.readexactly(4))
                    payload = await reader.readexactly(size - 4)
                    if kind == b"P":
                        statement, query = payload.split(b"\0")[:2]
                        prepared[statement] = current = query.decode(errors="replace")
                    elif kind == b"B":
                        current = prepared.get(payload.split(b"\0")[1], "?")
                    elif kind == b"Q":
                        current = payload.rstrip(b"\0").decode(errors="replace")
                    if kind in (b"S", b"Q"):
                        traffic.round_trips[name] += 1
                        traffic.statements.append((name, " ".join(current.split())))
                    traffic.sent[name] += 1 + size
                    upstream_writer.write(kind + struct.pack("!i", size) + payload)
            except (asyncio.IncompleteReadError, ConnectionError):
                upstream_writer.close()

        async def server_to_client() -> None:
            try:
                while data := await upstream_reader.read(65536):
                    traffic.received[name] += len(data)
                    writer.write(data)
                    await writer.drain()
            except ConnectionError:
                pass
            writer.close()

        try:
            await asyncio.gather(client_to_server(), server_to_client())
        except asyncio.CancelledError:
            upstream_writer.close()
            writer.close()
        finally:
            traffic.sessions[name] -= 1

    def close(self) -> None:
        """Stop listening and cut the relayed sessions."""
        if self.server is not None:
            self.server.close()


def words_server(store: Any, slow_seconds: float) -> Any:
    """A server whose every answer is one assistant message streamed as `DELTAS` text deltas,
    spread over `slow_seconds` when the user's text is "slow"."""
    from chatkit.server import ChatKitServer
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

    class Words(ChatKitServer[dict[str, Any]]):
        async def respond(
            self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: dict[str, Any]
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
            text = ""
            parts = input_user_message.content if input_user_message is not None else []
            slow = any(getattr(part, "text", "") == "slow" for part in parts)
            for index in range(DELTAS):
                if slow:
                    await asyncio.sleep(slow_seconds / DELTAS)
                delta = f"word{index} "
                text += delta
                yield ThreadItemUpdatedEvent(
                    item_id=item.id, update=AssistantMessageContentPartTextDelta(content_index=0, delta=delta)
                )
            item.content = [AssistantMessageContent(text=text)]
            yield ThreadItemDoneEvent(item=item)

    return Words(store)


def message(text: str, thread_id: str | None = None) -> dict[str, Any]:
    user_input = {"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}}
    if thread_id is None:
        return {"type": "threads.create", "params": {"input": user_input}}
    return {"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": user_input}}


Measured = tuple[dict[str, dict[str, float]], dict[str, int], dict[str, list[tuple[str, str]]]]


async def measure(dsn: str, coordinated: bool, repeat: int, slow_seconds: float) -> Measured:
    """Average traffic per request kind and session kind; the sessions open at the end; and the
    statements of each request kind's last run."""
    import httpx
    import psycopg

    from chatkit.asgi import create_app
    from chatkit.coordination import MemoryCoordination
    from chatkit.stores import PostgresStore

    target = urlsplit(dsn)
    relay = Relay(target.hostname or "127.0.0.1", target.port or 5432)
    port = await relay.start()
    schema = f"chatkit_costs_{uuid.uuid4().hex[:8]}"
    relayed = (
        f"postgresql://{target.username or 'postgres'}@127.0.0.1:{port}{target.path or '/postgres'}"
        f"?sslmode=disable&gssencmode=disable&application_name={STORE_APP}"
    )
    store = PostgresStore(relayed, schema=schema)
    await store.open()
    app = create_app(
        words_server(store, slow_seconds),
        context=lambda request: {"user_id": "alice"},
        coordination=None if coordinated else MemoryCoordination(),
    )
    results: dict[str, dict[str, float]] = {}
    statements: dict[str, list[tuple[str, str]]] = {}
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://b") as client,
        ):

            async def post(body: dict[str, Any]) -> bytes:
                response = await client.post("/chatkit", json=body)
                assert response.status_code == 200, response.text
                return response.content

            def thread_of(body: bytes) -> str:
                return json.loads(body.split(b"\n\n")[0][len(b"data: ") :])["thread"]["id"]

            # Warm-up: pools filled, statements seen once; and 20 threads of 20 items to list.
            threads = [thread_of(await post(message("warm-up"))) for _ in range(20)]
            for _ in range(9):
                await post(message("more", threads[0]))
            requests: dict[str, dict[str, Any]] = {
                f"threads.create ({DELTAS} deltas)": message("hello"),
                f"threads.add_user_message ({DELTAS} deltas)": message("again", threads[1]),
                f"the same, the reply over {slow_seconds:g} s": message("slow", threads[2]),
                "threads.list (20 of 20)": {"type": "threads.list", "params": {"limit": 20}},
                "items.list (20 of 20)": {
                    "type": "items.list",
                    "params": {"thread_id": threads[0], "limit": 20, "order": "desc"},
                },
                "threads.get_by_id (20 items)": {"type": "threads.get_by_id", "params": {"thread_id": threads[0]}},
            }
            for label, body in requests.items():
                totals: dict[str, float] = defaultdict(float)
                runs = 3 if body is requests.get(f"the same, the reply over {slow_seconds:g} s") else repeat
                for _ in range(runs):
                    relay.traffic.reset()
                    await post(body)
                    # Writes the coordination makes after the response (the turn's end) count too.
                    await asyncio.sleep(0.05)
                    for name in list(relay.traffic.sent):
                        kind = "store" if name == STORE_APP else "coordination"
                        totals[f"{kind} round trips"] += relay.traffic.round_trips[name] / runs
                        totals[f"{kind} bytes sent"] += relay.traffic.sent[name] / runs
                        totals[f"{kind} bytes received"] += relay.traffic.received[name] / runs
                results[label] = dict(totals)
                statements[label] = list(relay.traffic.statements)
            sessions = {name: count for name, count in relay.traffic.sessions.items() if count}
    finally:
        await store.aclose()
        relay.close()
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as admin:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())
    return results, sessions, statements


async def storage(dsn: str, threads: int, items: int) -> dict[str, float]:
    """Bytes on disk (tables and indexes) per thread and per item, from `threads` threads of `items` items."""
    import psycopg

    from chatkit.stores import PostgresStore
    from chatkit.types import AssistantMessageContent, AssistantMessageItem, ThreadMetadata

    schema = f"chatkit_size_{uuid.uuid4().hex[:8]}"
    text = "".join(f"word{index} " for index in range(DELTAS))
    try:
        async with PostgresStore(dsn, schema=schema) as store:
            context = {"user_id": "alice"}

            async def one_thread(number: int) -> None:
                thread = ThreadMetadata(id=f"thr_{number:07d}", created_at=datetime.now(), title="A conversation title")
                await store.save_thread(thread, context)
                for index in range(items):
                    item = AssistantMessageItem(
                        id=f"msg_{number:07d}_{index:03d}",
                        thread_id=thread.id,
                        created_at=datetime.now(),
                        content=[AssistantMessageContent(text=text)],
                    )
                    await store.add_thread_item(thread.id, item, context)

            for start in range(0, threads, 50):
                await asyncio.gather(*(one_thread(number) for number in range(start, min(threads, start + 50))))
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as admin:
            sizes = {}
            for table in ("threads", "items"):
                await admin.execute(f'VACUUM ANALYZE "{schema}".{table}'.encode())
                cursor = await admin.execute(
                    f"SELECT pg_table_size('\"{schema}\".{table}'), pg_indexes_size('\"{schema}\".{table}')".encode()
                )
                row = await cursor.fetchone()
                assert row is not None
                sizes[f"{table} table"], sizes[f"{table} indexes"] = float(row[0]), float(row[1])
    finally:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as admin:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())
    count = {"threads": threads, "items": threads * items}
    return {name: size / count[name.split()[0]] for name, size in sizes.items()}


def proportional_memory(pid: int) -> int:
    """The PSS of process `pid`, in bytes."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


async def lock_session_memory(dsn: str, sessions: int) -> float | None:
    """Proportional memory (PSS, bytes) of one PostgreSQL backend holding a turn lock, read from
    /proc on the database host (None when that is not this machine or not readable)."""
    import psycopg

    from chatkit.stores import PostgresStore

    schema = f"chatkit_mem_{uuid.uuid4().hex[:8]}"
    application = f"chatkit_mem_{uuid.uuid4().hex[:8]}"
    try:
        async with PostgresStore(f"{dsn}?application_name={application}", schema=schema, max_size=sessions) as store:
            held = asyncio.Event()
            done = asyncio.Event()
            ready = 0

            async def hold(number: int) -> None:
                nonlocal ready
                async with store.turn_lock(f"thr_{number}", {"user_id": "alice"}):
                    ready += 1
                    if ready == sessions:
                        held.set()
                    await done.wait()

            tasks = [asyncio.create_task(hold(number)) for number in range(sessions)]
            await held.wait()
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as admin:
                cursor = await admin.execute(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND state = 'idle in transaction'",
                    (application,),
                )
                pids = [pid for (pid,) in await cursor.fetchall()]
            try:
                total = sum(proportional_memory(pid) for pid in pids)
            except OSError:
                return None
            finally:
                done.set()
                await asyncio.gather(*tasks)
            return total / len(pids) if pids else None
    finally:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as admin:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


async def fence_check_time(dsn: str, held: int, checks: int = 200) -> float:
    """Seconds one turn-lock fence check takes while `held` advisory locks are held on the server."""
    import psycopg

    from chatkit.stores._postgres import _FENCE_CHECK  # pyright: ignore[reportPrivateUsage]

    async with (
        await psycopg.AsyncConnection.connect(dsn, autocommit=True) as holder,
        await psycopg.AsyncConnection.connect(dsn, autocommit=True) as checker,
    ):
        row = await (await holder.execute(b"SELECT pg_backend_pid()")).fetchone()
        assert row is not None
        await holder.execute(b"BEGIN")
        await holder.execute(b"SELECT count(pg_advisory_xact_lock(i)) FROM generate_series(1, %s) AS i", (held,))
        for _ in range(20):
            await checker.execute(_FENCE_CHECK, (row[0], 0, 1))
        started = time.perf_counter()
        for _ in range(checks):
            await (await checker.execute(_FENCE_CHECK, (row[0], 0, 1))).fetchone()
        elapsed = (time.perf_counter() - started) / checks
        await holder.execute(b"COMMIT")
    return elapsed


def report(title: str, measured: Measured, verbose: bool) -> None:
    results, sessions, statements = measured
    print(f"\n{title}")
    print(f"{'request':42} {'store RT':>9} {'sent B':>8} {'recv B':>8} {'coord RT':>9} {'sent B':>8} {'recv B':>8}")
    for label, totals in results.items():
        print(
            f"{label:42} {totals.get('store round trips', 0):9.1f} {totals.get('store bytes sent', 0):8.0f} "
            f"{totals.get('store bytes received', 0):8.0f} {totals.get('coordination round trips', 0):9.1f} "
            f"{totals.get('coordination bytes sent', 0):8.0f} {totals.get('coordination bytes received', 0):8.0f}"
        )
    print("sessions open after the run: " + ", ".join(f"{name} {count}" for name, count in sorted(sessions.items())))
    if verbose:
        for label, run in statements.items():
            print(f"\n  {label}:")
            for name, text in run:
                print(f"    [{name}] {text[:110]}")


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--slow-seconds", type=float, default=5.0, help="length of the slow reply (3 runs)")
    parser.add_argument("--threads", type=int, default=2000, help="threads written to measure storage")
    parser.add_argument("--statements", action="store_true", help="list the statements of each request")
    args = parser.parse_args(argv)
    for coordinated in (True, False):
        title = "PostgreSQL coordination (several processes)" if coordinated else "in-memory coordination (one process)"
        report(title, await measure(args.dsn, coordinated, args.repeat, args.slow_seconds), args.statements)
    sizes = await storage(args.dsn, args.threads, 10)
    print(f"\nstorage, from {args.threads} threads of 10 assistant messages of {DELTAS} words (after VACUUM):")
    for name, size in sizes.items():
        print(f"  {name:16} {size:8.0f} bytes per {name.split()[0][:-1]}")
    print("\none fence check (a write's test that its turn lock is held), by advisory locks held on the server:")
    for held in (1, 1000, 10000):
        print(f"  {held:6} locks: {await fence_check_time(args.dsn, held) * 1000:.2f} ms")
    memory = await lock_session_memory(args.dsn, 50)
    if memory is not None:
        print(f"\nmemory of a PostgreSQL backend holding a turn lock (PSS, mean of 50): {memory / 1024:.0f} KiB")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
