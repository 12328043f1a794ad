"""The store contract and the turn-lock tests again, through PgBouncer in transaction-pooling mode.

There a statement may run on any server connection: a session-level advisory lock stays behind on
the server connection it was taken on, a prepared statement is missing on the next one, and a
client's `backend_pid` is PgBouncer's, not the server's.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import psycopg
import pytest

from chatkit.stores import PostgresStore, ScopedStore

from . import test_contract, test_postgres
from .backends import PGBOUNCER_BACKEND, POSTGRES_DSN, drop_postgres_schema, make_store, postgres_schema
from .samples import thread, user_message

pytestmark = pytest.mark.service

ALICE = {"user_id": "alice"}

# Every contract test, collected again in this module, where `store` below is the one they get.
globals().update({name: test for name, test in vars(test_contract).items() if name.startswith("test_")})

TURN_LOCK_TESTS: list[Callable[[str, str], Awaitable[None]]] = [
    test_postgres.test_turn_lock_serializes_across_processes,
    test_postgres.test_turn_lock_serializes_two_stores_on_one_database,
    test_postgres.test_a_cancelled_lock_wait_leaves_no_lock_behind,
    test_postgres.test_a_turn_whose_lock_session_ended_may_not_write_its_thread,
    test_postgres.test_the_schema_version_is_recorded_and_a_newer_one_refused,
]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[ScopedStore]:
    """An open, empty PostgreSQL store reached through PgBouncer."""
    async with make_store(PGBOUNCER_BACKEND, tmp_path) as opened:
        yield opened


@pytest.fixture
def pgbouncer_dsn() -> str:
    """The test database through the run's PgBouncer."""
    from tests.deploy.pgbouncer import require_pgbouncer

    return require_pgbouncer()


@pytest.mark.parametrize("test", TURN_LOCK_TESTS, ids=lambda test: test.__name__)
async def test_turn_locks_through_pgbouncer(
    test: Callable[[str, str], Awaitable[None]], pgbouncer_dsn: str, tmp_path: Path
) -> None:
    schema = postgres_schema(tmp_path)
    try:
        await test(pgbouncer_dsn, schema)
    finally:
        await drop_postgres_schema(schema)


async def test_the_store_goes_on_when_pgbouncer_loses_its_server_connections(
    pgbouncer_dsn: str, tmp_path: Path
) -> None:
    application = f"chatkit_test_{uuid.uuid4().hex[:8]}"
    schema = postgres_schema(tmp_path)
    try:
        async with PostgresStore(f"{pgbouncer_dsn}?application_name={application}", schema=schema) as store:
            await store.save_thread(thread("thr_1"), ALICE)
            async with store.turn_lock("thr_1", ALICE):
                await store.add_thread_item("thr_1", user_message("thr_1", "msg_0"), ALICE)
            # Killed from outside PgBouncer: the pooled server connections, as in a database restart.
            async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as admin:
                cursor = await admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
                    (application,),
                )
                killed = await cursor.fetchone()
            assert killed is not None and killed[0] >= 1
            await asyncio.sleep(0.1)
            for number in range(1, 6):
                async with store.turn_lock("thr_1", ALICE):
                    await store.add_thread_item("thr_1", user_message("thr_1", f"msg_{number}"), ALICE)
            assert len((await store.load_thread_items("thr_1", None, 10, "asc", ALICE)).data) == 6
    finally:
        await drop_postgres_schema(schema)


@pytest.mark.parametrize("through", ["postgres", "pgbouncer"])
async def test_a_held_turn_lock_holds_back_no_vacuum(through: str, tmp_path: Path) -> None:
    """The lock's transaction stays open for the turn; a snapshot kept with it would stop vacuum."""
    from tests.deploy.pgbouncer import require_pgbouncer

    application = f"chatkit_test_{uuid.uuid4().hex[:8]}"
    dsn = require_pgbouncer() if through == "pgbouncer" else POSTGRES_DSN
    schema = postgres_schema(tmp_path)
    try:
        async with (
            PostgresStore(f"{dsn}?application_name={application}", schema=schema) as store,
            await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as admin,
        ):
            for _ in range(2):
                async with store.turn_lock("thr_1", ALICE):
                    cursor = await admin.execute(
                        "SELECT backend_xmin FROM pg_stat_activity WHERE application_name = %s"
                        " AND state = 'idle in transaction'",
                        (application,),
                    )
                    assert await cursor.fetchall() == [(None,)]
    finally:
        await drop_postgres_schema(schema)
