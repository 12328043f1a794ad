"""Store benchmarks: SQLite paging and inserts at scale, PostgreSQL turns under concurrency.

    .venv/bin/python benchmarks/stores_bench.py                 # full size (100k threads, 1M items)
    .venv/bin/python benchmarks/stores_bench.py --threads 10000 --items 100000 --skip-postgres

SQLite: p50 latency of a `threads.list` page (20), an `items.list` page (50) and `add_thread_item`,
through the public async API, at full size and at 1% of it (the ratio shows paging is O(page)).
PostgreSQL: turns/s of 50 concurrent simulated turns (load thread, add user message, add
assistant message, list 20 items) for `PostgresStore` and for a connection-per-call store written
the way the reference guide shows it, plus the worst event-loop stall during each run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from pydantic import TypeAdapter

from chatkit.store import NotFoundError, Store
from chatkit.stores import PostgresStore, SQLiteStore
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    Attachment,
    InferenceOptions,
    Page,
    ThreadItem,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
USER = {"user_id": "bench-user"}
TEXT = "The quick brown fox jumps over the lazy dog. " * 5
ITEM_ADAPTER: TypeAdapter[ThreadItem] = TypeAdapter(ThreadItem)


def user_message(thread_id: str, item_id: str) -> UserMessageItem:
    return UserMessageItem(
        id=item_id,
        thread_id=thread_id,
        created_at=NOW,
        content=[UserMessageTextContent(text=TEXT)],
        attachments=[],
        inference_options=InferenceOptions(),
    )


def assistant_message(thread_id: str, item_id: str) -> AssistantMessageItem:
    return AssistantMessageItem(
        id=item_id, thread_id=thread_id, created_at=NOW, content=[AssistantMessageContent(text=TEXT)]
    )


def percentile(samples: Sequence[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def timed(calls: int, make_call: Callable[[int], Awaitable[object]]) -> list[float]:
    """Latencies in ms of `calls` sequential awaits."""
    samples: list[float] = []
    for number in range(calls):
        started = time.perf_counter()
        await make_call(number)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


class LoopLag:
    """Measures the event loop: how late a 1 ms timer fires, and the longest single callback (a stall)."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.callbacks: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self._tick_started = 0.0
        self._original_run: Any = None

    async def _tick(self) -> None:
        while True:
            self._tick_started = time.perf_counter()
            await asyncio.sleep(0.001)
            self.lags.append((time.perf_counter() - self._tick_started - 0.001) * 1000)

    async def __aenter__(self) -> LoopLag:
        original_run = self._original_run = asyncio.Handle._run  # pyright: ignore[reportAttributeAccessIssue]

        def timed_run(handle: asyncio.Handle) -> None:
            started = time.perf_counter()
            original_run(handle)
            self.callbacks.append((time.perf_counter() - started) * 1000)

        asyncio.Handle._run = timed_run  # pyright: ignore[reportAttributeAccessIssue]
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        # A loop blocked until now never let the timer fire: count the wait in progress too.
        self.lags.append((time.perf_counter() - self._tick_started - 0.001) * 1000)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        asyncio.Handle._run = self._original_run  # pyright: ignore[reportAttributeAccessIssue]

    @property
    def longest_callback(self) -> float:
        return max(self.callbacks, default=0.0)

    def summary(self) -> str:
        over = sum(duration > 5 for duration in self.callbacks)
        return (
            f"callbacks: longest {self.longest_callback:.1f} ms, p99.9 {percentile(self.callbacks, 0.999):.2f} ms,"
            f" {over} of {len(self.callbacks):,} over 5 ms; timer lag max {max(self.lags):.1f} ms"
            f" / p99 {percentile(self.lags, 0.99):.2f} ms"
        )


# -- SQLite --------------------------------------------------------------------------------------


def fill_sqlite(path: Path, threads: int, items: int) -> tuple[list[str], list[str]]:
    """Bulk-load the store's tables directly (setup only); returns all thread ids and the long threads."""
    thread_template = ThreadMetadata(id="@ID@", created_at=NOW, title="A benchmark thread").model_dump_json()
    item_templates = [
        user_message("@TID@", "@ID@").model_dump_json(),
        assistant_message("@TID@", "@ID@").model_dump_json(),
    ]
    thread_ids = [f"thr_{number:07d}" for number in range(threads)]
    # A fiftieth of the threads are long (half of all items); the rest share the other half.
    long_threads = thread_ids[: max(1, threads // 50)]
    per_long = (items // 2) // len(long_threads)
    rest = items - per_long * len(long_threads)
    short_count = max(1, threads - len(long_threads))
    per_short, extra = divmod(rest, short_count)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA synchronous = OFF")
    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO chatkit_threads (scope, id, data) VALUES (?, ?, ?)",
        ((USER["user_id"], thread_id, thread_template.replace("@ID@", thread_id)) for thread_id in thread_ids),
    )

    def rows() -> Any:
        for position, thread_id in enumerate(thread_ids):
            short_position = position - len(long_threads)
            count = per_long if short_position < 0 else per_short + (short_position < extra)
            for number in range(count):
                item_id = f"msg_{position:07d}_{number:04d}"
                data = item_templates[number % 2].replace("@TID@", thread_id).replace("@ID@", item_id)
                yield (USER["user_id"], thread_id, item_id, data)

    db.executemany("INSERT INTO chatkit_items (scope, thread_id, id, data) VALUES (?, ?, ?, ?)", rows())
    db.execute("COMMIT")
    db.execute("ANALYZE")
    total = db.execute("SELECT count(*) FROM chatkit_items").fetchone()[0]
    db.close()
    print(
        f"  loaded {threads:,} threads and {total:,} items ({per_long} in each of {len(long_threads):,} long threads)"
    )
    return thread_ids, long_threads


async def measure_sqlite(path: Path, thread_ids: list[str], long_threads: list[str], calls: int) -> dict[str, float]:
    rng = random.Random(1)
    async with SQLiteStore(path) as store:
        cursors: dict[str, list[str]] = {}
        for thread_id in long_threads[:50]:
            page = await store.load_thread_items(thread_id, None, 10_000, "asc", USER)
            cursors[thread_id] = [item.id for item in page.data]
        sampled = list(cursors)
        await store.load_threads(20, None, "desc", USER)  # warm the caches once

        async def list_threads(number: int) -> object:
            after = None if number % 4 == 0 else rng.choice(thread_ids)
            return await store.load_threads(20, after, "desc", USER)

        async def list_items(number: int) -> object:
            thread_id = rng.choice(sampled)
            after = None if number % 4 == 0 else rng.choice(cursors[thread_id][:-50])
            return await store.load_thread_items(thread_id, after, 50, "asc", USER)

        async def insert(number: int) -> None:
            thread_id = rng.choice(thread_ids)
            await store.add_thread_item(thread_id, user_message(thread_id, f"new_{number:06d}"), USER)

        return {
            "threads.list (20)": statistics.median(await timed(calls, list_threads)),
            "items.list (50)": statistics.median(await timed(calls, list_items)),
            "add_thread_item": statistics.median(await timed(calls, insert)),
        }


def bench_sqlite(threads: int, items: int, calls: int) -> None:
    targets = {"threads.list (20)": 1.0, "items.list (50)": 1.0, "add_thread_item": 0.3}
    small_threads, small_items = max(100, threads // 100), max(1000, items // 100)
    with tempfile.TemporaryDirectory() as directory:
        results: dict[str, dict[str, float]] = {}
        for label, size in (("full", (threads, items)), ("1%", (small_threads, small_items))):
            path = Path(directory) / f"{label}.db"
            print(f"SQLite, {label} size:")
            asyncio.run(_open_and_close(SQLiteStore(path)))
            started = time.perf_counter()
            thread_ids, long_threads = fill_sqlite(path, *size)
            print(f"  setup took {time.perf_counter() - started:.1f} s")
            results[label] = asyncio.run(measure_sqlite(path, thread_ids, long_threads, calls))
    print(f"\nSQLite p50 over {calls} calls each, at {threads:,} threads / {items:,} items:")
    for name, target in targets.items():
        full, small = results["full"][name], results["1%"][name]
        verdict = "ok" if full <= target else "MISSED"
        print(
            f"  {name:<18} {full:6.3f} ms (target <= {target} ms: {verdict});"
            f" at 1% size {small:6.3f} ms, ratio {full / small:4.2f}x"
        )


async def _open_and_close(store: SQLiteStore) -> None:
    async with store:
        pass


# -- PostgreSQL ----------------------------------------------------------------------------------


class GuideStyleStore(Store[Any]):
    """The baseline: a new synchronous connection per call inside async methods, no tenant scoping."""

    def __init__(self, dsn: str, schema: str) -> None:
        self.dsn = dsn
        self.schema = schema

    def _connect(self) -> psycopg.Connection[Any]:
        connection = psycopg.connect(self.dsn)
        connection.execute(f"SET search_path TO {self.schema}".encode())
        return connection

    def create_tables(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as connection:
            connection.execute(f"CREATE SCHEMA {self.schema}".encode())
            connection.execute(
                f"""CREATE TABLE {self.schema}.threads (id text PRIMARY KEY, created_at timestamptz NOT NULL,
                data jsonb NOT NULL)""".encode()
            )
            connection.execute(
                f"""CREATE TABLE {self.schema}.items (id text PRIMARY KEY, thread_id text NOT NULL,
                created_at timestamptz NOT NULL, data jsonb NOT NULL)""".encode()
            )

    async def load_thread(self, thread_id: str, context: Any) -> ThreadMetadata:
        with self._connect() as connection:
            row = connection.execute("SELECT data FROM threads WHERE id = %s", (thread_id,)).fetchone()
        if row is None:
            raise NotFoundError(thread_id)
        return ThreadMetadata.model_validate(row[0])

    async def save_thread(self, thread: ThreadMetadata, context: Any) -> None:
        with self._connect() as connection:
            connection.execute(
                """INSERT INTO threads (id, created_at, data) VALUES (%s, %s, %s)
                ON CONFLICT (id) DO UPDATE SET data = excluded.data""",
                (thread.id, thread.created_at, Jsonb(thread.model_dump(mode="json"))),
            )

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: Any
    ) -> Page[ThreadItem]:
        direction = "DESC" if order == "desc" else "ASC"
        with self._connect() as connection:
            rows = connection.execute(
                f"SELECT data FROM items WHERE thread_id = %s ORDER BY created_at {direction} LIMIT %s".encode(),
                (thread_id, limit + 1),
            ).fetchall()
        data = [ITEM_ADAPTER.validate_python(row[0]) for row in rows[:limit]]
        has_more = len(rows) > limit
        return Page(data=data, has_more=has_more, after=data[-1].id if has_more else None)

    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        with self._connect() as connection:
            connection.execute(
                "INSERT INTO items (id, thread_id, created_at, data) VALUES (%s, %s, %s, %s)",
                (item.id, thread_id, item.created_at, Jsonb(item.model_dump(mode="json"))),
            )

    async def save_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        raise NotImplementedError

    async def load_item(self, thread_id: str, item_id: str, context: Any) -> ThreadItem:
        raise NotImplementedError

    async def delete_thread(self, thread_id: str, context: Any) -> None:
        raise NotImplementedError

    async def delete_thread_item(self, thread_id: str, item_id: str, context: Any) -> None:
        raise NotImplementedError

    async def load_threads(self, limit: int, after: str | None, order: str, context: Any) -> Page[ThreadMetadata]:
        raise NotImplementedError

    async def save_attachment(self, attachment: Attachment, context: Any) -> None:
        raise NotImplementedError

    async def load_attachment(self, attachment_id: str, context: Any) -> Attachment:
        raise NotImplementedError

    async def delete_attachment(self, attachment_id: str, context: Any) -> None:
        raise NotImplementedError


async def run_turns(
    store: Store[Any], thread_ids: list[str], turns: int, concurrency: int, think: float = 0.0
) -> tuple[float, LoopLag]:
    """Turns per second of `concurrency` workers running `turns` simulated turns in total;
    `think` seconds between the user's and the assistant's message stand in for the model."""
    remaining = iter(range(turns))

    async def worker() -> None:
        for number in remaining:
            thread_id = thread_ids[number % len(thread_ids)]
            thread = await store.load_thread(thread_id, USER)
            await store.add_thread_item(thread.id, user_message(thread.id, f"u_{uuid.uuid4().hex}"), USER)
            if think:
                await asyncio.sleep(think)
            await store.add_thread_item(thread.id, assistant_message(thread.id, f"a_{uuid.uuid4().hex}"), USER)
            await store.load_thread_items(thread.id, None, 20, "desc", USER)

    async with LoopLag() as lag:
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return turns / elapsed, lag


async def control_run(concurrency: int) -> LoopLag:
    """The loop figures of a workload that does nothing slow: what this machine adds on its own."""

    async def worker() -> None:
        for _ in range(400):
            sum(range(200))
            await asyncio.sleep(0)

    async with LoopLag() as lag:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return lag


async def bench_postgres(dsn: str, turns: int, concurrency: int, thread_count: int) -> None:
    tag = uuid.uuid4().hex[:8]
    ours_schema, guide_schema = f"bench_ours_{tag}", f"bench_guide_{tag}"
    thread_ids = [f"thr_{number:04d}" for number in range(thread_count)]
    guide = GuideStyleStore(dsn, guide_schema)
    store = PostgresStore(dsn, schema=ours_schema, max_size=10)
    try:
        guide.create_tables()
        async with store:
            for thread_id in thread_ids:
                thread = ThreadMetadata(id=thread_id, created_at=NOW)
                await store.save_thread(thread, USER)
                await guide.save_thread(thread, USER)
            async with LoopLag() as idle:
                await asyncio.sleep(1.0)
            control = await control_run(concurrency)
            print(f"\nPostgreSQL, {concurrency} concurrent simulated turns over {thread_count} threads:")
            print(f"  idle event loop (machine noise): timer lag max {max(idle.lags):.1f} ms")
            print(f"  control, {concurrency} tasks switching with trivial work (machine noise): {control.summary()}")
            await run_turns(store, thread_ids, concurrency * 2, concurrency)  # warm up the pool
            guide_rate, guide_lag = await run_turns(guide, thread_ids, max(concurrency * 2, turns // 10), concurrency)
            ours_rate, ours_lag = await run_turns(store, thread_ids, turns, concurrency)
            paced_rate, paced_lag = await run_turns(store, thread_ids, concurrency * 10, concurrency, think=0.05)
        ratio = ours_rate / guide_rate
        print("  flat out (no model time):")
        print(f"    connection-per-call store (guide) {guide_rate:8.1f} turns/s; {guide_lag.summary()}")
        print(f"    PostgresStore                     {ours_rate:8.1f} turns/s; {ours_lag.summary()}")
        print(f"    ratio {ratio:.1f}x (target >= 5x: {'ok' if ratio >= 5 else 'MISSED'})")
        print(f"  paced (50 ms of model time per turn): PostgresStore {paced_rate:.1f} turns/s; {paced_lag.summary()}")
        for label, lag in (("flat out", ours_lag), ("paced", paced_lag)):
            verdict = "ok" if lag.longest_callback <= 5 else "MISSED"
            print(f"  PostgresStore longest stall, {label}: {lag.longest_callback:.1f} ms (target <= 5 ms: {verdict})")
        print(f"  (load average during the run: {', '.join(f'{load:.2f}' for load in os.getloadavg())})")
    finally:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as connection:
            for schema in (ours_schema, guide_schema):
                await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE".encode())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=100_000, help="SQLite threads (default 100,000)")
    parser.add_argument("--items", type=int, default=1_000_000, help="SQLite items (default 1,000,000)")
    parser.add_argument("--calls", type=int, default=2000, help="SQLite calls timed per operation")
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--turns", type=int, default=2000, help="PostgresStore turns to run")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_sqlite:
        bench_sqlite(args.threads, args.items, args.calls)
    if not args.skip_postgres:
        asyncio.run(bench_postgres(args.dsn, args.turns, args.concurrency, thread_count=200))
    return 0


if __name__ == "__main__":
    sys.exit(main())
