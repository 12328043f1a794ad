"""`PostgresDatabase`: the store, the attachment store and the coordination of a process on one handle."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from chatkit.attachments import PostgresAttachmentStore
from chatkit.coordination import PostgresCoordination, TurnKey
from chatkit.stores import PostgresDatabase, PostgresStore, StoreError

from .backends import drop_postgres_schema, postgres_schema, require_postgres
from .samples import thread, user_message

pytestmark = pytest.mark.service

ALICE = {"user_id": "alice"}


def tagged(dsn: str, application_name: str) -> str:
    """`dsn` with an `application_name`, so the test can count the sessions it opens."""
    return f"{dsn}{'&' if '?' in dsn else '?'}application_name={application_name}"


async def sessions(application_name: str) -> int:
    async with await psycopg.AsyncConnection.connect(require_postgres(), autocommit=True) as admin:
        cursor = await admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (application_name,)
        )
        row = await cursor.fetchone()
        assert row is not None
        return int(row[0])


@pytest.fixture
async def schema(tmp_path: Path) -> AsyncIterator[str]:
    name = postgres_schema(tmp_path)
    yield name
    await drop_postgres_schema(name)


async def test_every_part_borrows_one_pool_and_the_last_to_close_releases_it(schema: str) -> None:
    name = f"chatkit-test-{uuid.uuid4().hex[:8]}"
    database = PostgresDatabase(tagged(require_postgres(), name), schema=schema, max_size=3)
    store = PostgresStore(database=database)
    files: PostgresAttachmentStore[Any] = PostgresAttachmentStore(database=database, secret="s" * 32)
    coordination = PostgresCoordination.for_store(store, listen=False)
    assert coordination.database is database and files.database is database
    assert database.max_connections == 4

    await store.open()
    await files.open()
    created = thread("thr_1")
    async with store.turn_lock(created.id, ALICE), store.turn_lock("thr_2", ALICE):
        await store.save_thread(created, ALICE)
        await store.add_thread_item(created.id, user_message(created.id, "msg_1"), ALICE)
        running = await coordination.begin(TurnKey.of(store.turn_scope(ALICE), created.id), lambda: None)
        await running.end()
        # Statements and the one turn lock session, whatever the number of parts and of turns.
        assert 2 <= await sessions(name) <= database.max_connections
        assert database.turn_locks.held == 2
    assert await files.schema_version() == 1 and await store.schema_version() >= 1

    await store.aclose()
    # The others still hold the database: it stays open for them.
    assert (await store.load_thread(created.id, ALICE)).id == created.id
    await files.aclose()
    await coordination.aclose()
    await store.aclose()
    # A closed connection's backend leaves pg_stat_activity a moment after the client hangs up.
    for _ in range(50):
        if await sessions(name) == 0:
            break
        await asyncio.sleep(0.1)
    assert await sessions(name) == 0


async def test_a_given_pool_is_borrowed_and_left_open(schema: str) -> None:
    async with AsyncConnectionPool(require_postgres(), min_size=1, max_size=2, kwargs={"autocommit": True}) as pool:
        database = PostgresDatabase(pool=pool, schema=schema)
        assert database.max_size == 2 and database.conninfo == require_postgres()
        async with PostgresStore(database=database) as store:
            await store.save_thread(thread("thr_1"), ALICE)
        assert not pool.closed
        async with pool.connection() as conn:
            await conn.execute("SELECT 1")


async def test_a_closed_database_refuses_work_plainly(schema: str) -> None:
    database = PostgresDatabase(require_postgres(), schema=schema)
    with pytest.raises(StoreError, match="closed"):
        await database.run(select_one)
    async with database:
        cursor_rows = await database.run(select_one)
        assert cursor_rows == [(1,)]
    with pytest.raises(StoreError, match="closed"):
        await database.run(select_one)


async def select_one(conn: psycopg.AsyncConnection[Any]) -> list[tuple[Any, ...]]:
    return await (await conn.execute("SELECT 1")).fetchall()
