"""Live store latency while a retention sweep deletes 100,000 idle threads, against no sweep, in one run.

python benchmarks/retention_bench.py [--threads 100000] [--backend postgres|sqlite|both] [--clients 8]

A store is filled with `--threads` threads (two items each) last written 40 days ago. Live clients
then create threads, add messages and read them back, while (1) nothing else runs, (2) the sweep
`chatkit serve --retain-days 30` runs deletes the idle threads in batches of 500, 50 ms apart, and
(3) the same sweep deletes them in one transaction, the baseline batches exist to beat. Printed per
backend and phase: store operations done, their p50 and p99 latency, p99 against no sweep, and the
sweep's duration. `--check` exits 1 unless every idle thread went, every live thread and item
stayed, and no live operation failed (the load test of `make test` runs it small).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from chatkit.data import DEFAULT_BATCH_SIZE, RetentionSweeper
from chatkit.stores import PostgresStore, ScopedStore, SQLiteStore
from chatkit.types import AssistantMessageContent, AssistantMessageItem, ThreadMetadata

POSTGRES_DSN = os.environ.get("CHATKIT_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
IDLE_DAYS = 40
RETAIN_DAYS = 30
BASELINE_SECONDS = 5.0
TEXT = "An answer of a realistic length, a couple of sentences that a model might have written. " * 3


def _thread_json(thread_id: str) -> str:
    return ThreadMetadata(id=thread_id, created_at=datetime(2020, 1, 1, tzinfo=timezone.utc)).model_dump_json()


def _item_json(thread_id: str, item_id: str) -> str:
    item = AssistantMessageItem(
        id=item_id,
        thread_id=thread_id,
        created_at=datetime(2020, 1, 1, tzinfo=timezone.utc),
        content=[AssistantMessageContent(text=TEXT)],
    )
    return item.model_dump_json()


# -- filling a store with idle threads, straight into its tables ---------------------------------


async def fill_postgres(store: PostgresStore, threads: int) -> None:
    import psycopg

    thread = _thread_json("THREAD")
    item = _item_json("THREAD", "ITEM")
    schema = f'"{store.schema}"'
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as conn:
        await conn.execute(
            f"""INSERT INTO {schema}.threads (scope_key, key, scope, id, data, touched_at)
            SELECT sha256(convert_to(scope, 'UTF8')), sha256(convert_to(id, 'UTF8')), scope, id,
                replace(%s, '"THREAD"', to_json(id)::text), now() - make_interval(days => %s)
            FROM (SELECT 'idle-' || mod(g, 1000) AS scope, 'thr_idle_' || g AS id
                FROM generate_series(1, %s) g) AS t""".encode(),
            (thread, IDLE_DAYS, threads),
        )
        await conn.execute(
            f"""INSERT INTO {schema}.items (scope_key, thread_key, key, scope, thread_id, id, data, touched_at)
            SELECT t.scope_key, t.key, sha256(convert_to(t.id || '_' || n, 'UTF8')), t.scope, t.id, t.id || '_' || n,
                replace(replace(%s, '"THREAD"', to_json(t.id)::text), '"ITEM"', to_json(t.id || '_' || n)::text),
                t.touched_at
            FROM {schema}.threads t, generate_series(1, 2) n WHERE starts_with(t.scope, 'idle-')""".encode(),
            (item,),
        )
        await conn.execute(f"ANALYZE {schema}.threads".encode())
        await conn.execute(f"ANALYZE {schema}.items".encode())


def fill_sqlite(path: str, threads: int) -> None:
    thread = _thread_json("THREAD")
    item = _item_json("THREAD", "ITEM")
    stamp = time.time() - IDLE_DAYS * 86400
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO chatkit_threads (scope, id, data, touched_at) VALUES (?, ?, ?, ?)",
            (
                (f"idle-{n % 1000}", f"thr_idle_{n}", thread.replace("THREAD", f"thr_idle_{n}"), stamp)
                for n in range(threads)
            ),
        )
        db.executemany(
            "INSERT INTO chatkit_items (scope, thread_id, id, data, touched_at) VALUES (?, ?, ?, ?, ?)",
            (
                (
                    f"idle-{n % 1000}",
                    f"thr_idle_{n}",
                    f"thr_idle_{n}_{k}",
                    item.replace("THREAD", f"thr_idle_{n}").replace("ITEM", f"thr_idle_{n}_{k}"),
                    stamp,
                )
                for n in range(threads)
                for k in (1, 2)
            ),
        )
    db.close()


# -- live traffic -------------------------------------------------------------------------------


@dataclass
class Live:
    """Live clients' latencies (seconds), failures, and the threads they made."""

    latencies: list[float] = field(default_factory=list[float])
    failures: list[str] = field(default_factory=list[str])
    made: list[tuple[dict[str, str], str]] = field(default_factory=list[tuple[dict[str, str], str]])

    async def timed(self, work: Any) -> Any:
        started = time.perf_counter()
        try:
            return await work
        except Exception as error:
            self.failures.append(f"{type(error).__name__}: {error}")
        finally:
            self.latencies.append(time.perf_counter() - started)


async def client(store: ScopedStore, number: int, live: Live, stop: asyncio.Event) -> None:
    """One user chatting: a new thread, two messages, the thread read back, the thread list."""
    context = {"user_id": f"live-{number}"}
    while not stop.is_set():
        thread = ThreadMetadata(id=store.generate_thread_id(context), created_at=datetime.now(timezone.utc))
        await live.timed(store.save_thread(thread, context))
        for _ in range(2):
            item = AssistantMessageItem(
                id=store.generate_item_id("message", thread, context),
                thread_id=thread.id,
                created_at=datetime.now(timezone.utc),
                content=[AssistantMessageContent(text=TEXT)],
            )
            await live.timed(store.add_thread_item(thread.id, item, context))
        await live.timed(store.load_thread_items(thread.id, None, 20, "asc", context))
        await live.timed(store.load_threads(20, None, "desc", context))
        live.made.append((context, thread.id))


@dataclass
class Phase:
    name: str
    live: Live
    sweep_seconds: float | None = None
    swept: int = 0


async def phase(store: ScopedStore, name: str, clients: int, batch_size: int | None, threads: int) -> Phase:
    """Live traffic for the baseline's length, or for as long as the sweep (if any) takes."""
    live = Live()
    stop = asyncio.Event()
    tasks = [asyncio.create_task(client(store, n, live, stop)) for n in range(clients)]
    result = Phase(name, live)
    await asyncio.sleep(0.5)  # the clients are under way before the sweep starts
    live.latencies.clear()
    if batch_size is None:
        await asyncio.sleep(BASELINE_SECONDS)
    else:
        started = time.perf_counter()
        # The sweep `chatkit serve --retain-days` runs, batches and pauses included.
        report = await RetentionSweeper(store, RETAIN_DAYS, batch_size=batch_size).sweep()
        result.sweep_seconds = time.perf_counter() - started
        result.swept = report.threads
    stop.set()
    await asyncio.gather(*tasks)
    return result


async def idle_left(store: ScopedStore) -> int:
    return sum(1 for scope in await store.scopes() if scope.startswith("idle-"))


async def live_intact(store: ScopedStore, live: Live) -> bool:
    for context, thread_id in live.made:
        items = await store.load_thread_items(thread_id, None, 10, "asc", context)
        if len(items.data) != 2:
            return False
    return True


async def run_backend(backend: str, threads: int, clients: int, check: bool) -> list[str]:
    """Every phase on one backend; the problems `--check` found."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        if backend == "postgres":
            store: ScopedStore = PostgresStore(POSTGRES_DSN, schema=f"retention_bench_{uuid.uuid4().hex[:8]}")
        else:
            store = SQLiteStore(Path(folder) / "bench.db")
        async with store:
            phases: list[Phase] = []
            plans = [("no sweep", None), (f"sweep, batches of {DEFAULT_BATCH_SIZE}", DEFAULT_BATCH_SIZE)]
            plans.append(("sweep, one transaction", threads))
            for name, batch_size in plans:
                if batch_size is not None:
                    if isinstance(store, PostgresStore):
                        await fill_postgres(store, threads)
                    else:
                        await asyncio.to_thread(fill_sqlite, str(store.path), threads)
                done = await phase(store, name, clients, batch_size, threads)
                phases.append(done)
                if check and batch_size is not None:
                    if done.swept != threads or await idle_left(store):
                        problems.append(f"{backend} {name}: swept {done.swept} of {threads}")
                    if not await live_intact(store, done.live):
                        problems.append(f"{backend} {name}: a live thread lost items")
                if done.live.failures:
                    problems.append(f"{backend} {name}: {len(done.live.failures)} failed, e.g. {done.live.failures[0]}")
            if isinstance(store, PostgresStore):
                import psycopg

                async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as conn:
                    await conn.execute(f'DROP SCHEMA "{store.schema}" CASCADE'.encode())
    report(backend, phases)
    return problems


def report(backend: str, phases: list[Phase]) -> None:
    base_p99 = _p(phases[0].live.latencies, 99)
    for done in phases:
        latencies = done.live.latencies
        p50, p99 = _p(latencies, 50), _p(latencies, 99)
        sweep = "" if done.sweep_seconds is None else f"{done.sweep_seconds:7.1f} s"
        rate = "" if not done.sweep_seconds else f"{done.swept / done.sweep_seconds:9,.0f}/s"
        print(
            f"{backend:9} {done.name:28} {len(latencies):7,} ops  p50 {p50 * 1000:6.2f} ms  "
            f"p99 {p99 * 1000:7.2f} ms  x{p99 / base_p99:5.2f}  {sweep:>9} {rate:>11}",
            flush=True,
        )


def _p(values: list[float], percent: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100)[percent - 1] if percent < 100 else max(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--threads", type=int, default=100_000)
    parser.add_argument("--backend", choices=("postgres", "sqlite", "both"), default="both")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--check", action="store_true", help="exit 1 unless the sweeps removed all and only idle data")
    args = parser.parse_args()
    backends = ["postgres", "sqlite"] if args.backend == "both" else [args.backend]
    print(f"{args.threads:,} idle threads (2 items each), {args.clients} live clients; p99 against no sweep")
    problems: list[str] = []
    for backend in backends:
        problems += asyncio.run(run_backend(backend, args.threads, args.clients, args.check))
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
