"""One contract for every coordination backend: what a follower sees, what an interrupt reaches.

Each test gets two coordinations, `here` (running the turn) and `there` (another process): for
memory they are the same object, for PostgreSQL two instances with connections of their own on
one schema, as two server processes would be; `postgres_polling` is PostgreSQL without
`LISTEN`, where everything is polled; `pgbouncer` goes through PgBouncer in transaction-pooling
mode (`tests.deploy.pgbouncer`), where the coordination finds `LISTEN` unusable and polls, and
`pgbouncer_notify` listens on a direct `notify_dsn` instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from chatkit.coordination import (
    OVERFLOW_FRAME,
    Coordination,
    Frame,
    MemoryCoordination,
    PostgresCoordination,
    ReplayLimits,
    TurnKey,
)
from tests.stores.backends import drop_postgres_schema, postgres_schema, require_postgres

BACKENDS = ["memory", "postgres", "postgres_polling", "pgbouncer", "pgbouncer_notify"]
KEY = TurnKey.of("alice", "thread_1")


@asynccontextmanager
async def pair(
    backend: str, tmp_path: Path, limits: ReplayLimits | None = None
) -> AsyncIterator[tuple[Coordination, Coordination]]:
    """The coordination of the process running turns, and that of another process."""
    if backend == "memory":
        memory = MemoryCoordination(limits)
        yield memory, memory
        return
    dsn = require_postgres()
    schema = postgres_schema(tmp_path)
    options: dict[str, Any] = {"schema": schema, "limits": limits, "listen": backend != "postgres_polling"}
    if backend.startswith("pgbouncer"):
        from tests.deploy.pgbouncer import require_pgbouncer

        options["notify_dsn"] = dsn if backend == "pgbouncer_notify" else None
        dsn = require_pgbouncer()
    here = PostgresCoordination(dsn, **options)
    there = PostgresCoordination(dsn, **options)
    try:
        yield here, there
        if backend == "pgbouncer":
            assert not here.listen, "LISTEN through a transaction pooler should have been given up"
        if backend == "pgbouncer_notify":
            assert here.listen
    finally:
        await here.aclose()
        await there.aclose()
        await drop_postgres_schema(schema)


def frame(index: int) -> bytes:
    return b'data: {"n":%d}\n\n' % index


async def collect(frames: AsyncIterator[Frame] | None) -> list[Frame]:
    assert frames is not None
    return [item async for item in frames]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_follower_gets_missed_frames_then_live_ones_in_order(backend: str, tmp_path: Path) -> None:
    async with pair(backend, tmp_path) as (here, there):
        turn = await here.begin(KEY, lambda: None)
        for index in range(1, 6):
            turn.publish(frame(index))
        await asyncio.sleep(0.2)
        following = asyncio.create_task(collect(await there.follow(KEY, 2)))
        await asyncio.sleep(0.1)
        for index in range(6, 9):
            turn.publish(frame(index))
            await asyncio.sleep(0.01)
        await turn.end()
        got = await asyncio.wait_for(following, 10)
    assert got == [(index, frame(index)) for index in range(3, 9)]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_followers_from_start_and_past_the_end(backend: str, tmp_path: Path) -> None:
    async with pair(backend, tmp_path) as (here, there):
        turn = await here.begin(KEY, lambda: None)
        turn.publish(frame(1))
        await asyncio.sleep(0.2)
        whole = asyncio.create_task(collect(await there.follow(KEY, 0)))
        nothing_yet = asyncio.create_task(collect(await there.follow(KEY, 7)))
        await asyncio.sleep(0.1)
        turn.publish(frame(2))
        await turn.end()
        assert await asyncio.wait_for(whole, 10) == [(1, frame(1)), (2, frame(2))]
        assert await asyncio.wait_for(nothing_yet, 10) == []


@pytest.mark.parametrize("backend", BACKENDS)
async def test_nothing_to_follow_before_or_after_a_turn(backend: str, tmp_path: Path) -> None:
    async with pair(backend, tmp_path) as (here, there):
        assert await there.follow(KEY, 0) is None
        turn = await here.begin(KEY, lambda: None)
        turn.publish(frame(1))
        await turn.end()
        assert await there.follow(KEY, 0) is None
        assert await here.follow(KEY, 0) is None
        # Turns are keyed by scope: another user's thread of the same id is another turn.
        other = await here.begin(TurnKey.of("bob", "thread_1"), lambda: None)
        await asyncio.sleep(0.2)
        assert await there.follow(KEY, 0) is None
        await other.end()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_interrupt_reaches_the_running_turn(backend: str, tmp_path: Path) -> None:
    async with pair(backend, tmp_path) as (here, there):
        assert not await there.interrupt(KEY)
        stopped = asyncio.Event()
        turn = await here.begin(KEY, stopped.set)
        await asyncio.sleep(0.2)  # the turn's record is written in the background
        assert await there.interrupt(KEY)
        await asyncio.wait_for(stopped.wait(), 5)
        await turn.end()
        assert not await there.interrupt(KEY)


@pytest.mark.parametrize("backend", BACKENDS)
async def test_overflow_ends_followers_with_an_error_event(backend: str, tmp_path: Path) -> None:
    async with pair(backend, tmp_path, ReplayLimits(max_frames=3)) as (here, there):
        turn = await here.begin(KEY, lambda: None)
        await asyncio.sleep(0.2)
        following = asyncio.create_task(collect(await there.follow(KEY, 0)))
        for index in range(1, 6):
            turn.publish(frame(index))
        got = await asyncio.wait_for(following, 10)
        await turn.end()
    assert got == [(1, frame(1)), (2, frame(2)), (3, frame(3)), (None, OVERFLOW_FRAME)]
    assert b'"type":"error"' in OVERFLOW_FRAME


@pytest.mark.parametrize("backend", BACKENDS)
async def test_byte_cap(backend: str, tmp_path: Path) -> None:
    async with pair(backend, tmp_path, ReplayLimits(max_bytes=len(frame(1)) * 2)) as (here, there):
        turn = await here.begin(KEY, lambda: None)
        await asyncio.sleep(0.2)
        following = asyncio.create_task(collect(await there.follow(KEY, 0)))
        for index in range(1, 4):
            turn.publish(frame(index))
        got = await asyncio.wait_for(following, 10)
        await turn.end()
    assert [index for index, _ in got] == [1, 2, None]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_stalled_follower_holds_back_neither_the_turn_nor_others(backend: str, tmp_path: Path) -> None:
    async with pair(backend, tmp_path) as (here, there):
        turn = await here.begin(KEY, lambda: None)
        await asyncio.sleep(0.2)
        stalled = await there.follow(KEY, 0)
        assert stalled is not None
        following = asyncio.create_task(collect(await there.follow(KEY, 0)))
        for index in range(1, 501):
            turn.publish(frame(index))  # never waits, whoever reads
        await turn.end()
        got = await asyncio.wait_for(following, 10)
        assert len(got) == 500
        # The stalled one still reads everything, later, at its own pace.
        assert len(await collect(stalled)) == 500


async def test_postgres_writes_frames_only_for_a_followed_turn(tmp_path: Path) -> None:
    async with pair("postgres", tmp_path) as (here, there):
        assert isinstance(here, PostgresCoordination)
        unfollowed = await here.begin(KEY, lambda: None)
        for index in range(1, 4):
            unfollowed.publish(frame(index))
        await asyncio.sleep(0.2)
        assert await stored_frames(here) == 0
        following = asyncio.create_task(collect(await there.follow(KEY, 0)))
        await asyncio.sleep(0.2)
        assert await stored_frames(here) == 3
        await unfollowed.end()
        assert [index for index, _ in await asyncio.wait_for(following, 10)] == [1, 2, 3]


async def stored_frames(coordination: PostgresCoordination) -> int:
    async def count(conn: Any) -> int:
        cursor = await conn.execute(f'SELECT count(*) FROM "{coordination.schema}".turn_frames'.encode())
        return (await cursor.fetchone())[0]

    return await coordination.run(count)


async def test_postgres_a_late_interrupt_for_the_previous_turn_spares_the_next(tmp_path: Path) -> None:
    import psycopg

    async with pair("postgres", tmp_path) as (here, there):
        assert isinstance(here, PostgresCoordination) and isinstance(there, PostgresCoordination)
        first = await here.begin(KEY, lambda: None)
        await asyncio.sleep(0.2)
        params = {"scope": KEY.scope_key, "thread": KEY.thread_key, "channel": there.channel}
        async with await psycopg.AsyncConnection.connect(require_postgres()) as conn:
            # An interrupt aimed at the first turn, its notice held back (until commit) while the
            # first turn ends and the next one starts.
            cursor = await conn.execute(there.sql["interrupt"], params)
            assert len(await cursor.fetchall()) == 1
            ending = asyncio.create_task(first.end())
            interrupted = asyncio.Event()
            second = await here.begin(KEY, interrupted.set)
            await conn.commit()
        await asyncio.wait_for(ending, 10)
        await asyncio.sleep(0.3)
        assert not interrupted.is_set()
        await second.end()


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_follower_gets_a_turns_end_even_when_the_next_turn_starts_at_once(backend: str, tmp_path: Path) -> None:
    async with pair(backend, tmp_path) as (here, there):
        first = await here.begin(KEY, lambda: None)
        first.publish(frame(1))
        await asyncio.sleep(0.2)
        following = asyncio.create_task(collect(await there.follow(KEY, 0)))
        await asyncio.sleep(0.2)
        for index in range(2, 6):
            first.publish(frame(index))
        await first.end()
        # As after an interrupt: the thread's next turn starts before the follower read the end.
        second = await here.begin(KEY, lambda: None)
        second.publish(frame(100))
        got = await asyncio.wait_for(following, 10)
        await second.end()
    assert got == [(index, frame(index)) for index in range(1, 6)]
