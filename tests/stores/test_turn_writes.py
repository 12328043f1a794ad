"""Writes made during a turn: one statement each, fenced by the turn lock in that statement."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from chatkit.stores import IdConflictError, PostgresStore, TurnLockLostError
from chatkit.types import AssistantMessageContent, AssistantMessageItem

from .backends import POSTGRES_DSN, drop_postgres_schema, postgres_schema
from .samples import FIXED_TIME, thread, user_message

pytestmark = pytest.mark.service

ALICE = {"user_id": "alice"}


class CountingConnection(psycopg.AsyncConnection[Any]):
    """A connection that counts the statements it sends."""

    statements = 0

    async def execute(self, query: Any, params: Any = None, **options: Any) -> Any:
        """Count, then execute."""
        CountingConnection.statements += 1
        return await super().execute(query, params, **options)


@pytest.fixture
async def schema(postgres_dsn: str, tmp_path: Path) -> AsyncIterator[str]:
    name = postgres_schema(tmp_path)
    yield name
    await drop_postgres_schema(name)


async def test_a_write_during_a_turn_is_one_statement(postgres_dsn: str, schema: str) -> None:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        postgres_dsn, connection_class=CountingConnection, kwargs={"autocommit": True}, open=False
    )
    await pool.open()
    try:
        async with PostgresStore(pool=pool, schema=schema) as store:
            await store.save_thread(thread("thr_1"), ALICE)
            async with store.turn_lock("thr_1", ALICE):
                CountingConnection.statements = 0
                await store.add_thread_item("thr_1", user_message("thr_1", "msg_1"), ALICE)
                reply = AssistantMessageItem(
                    id="msg_2", thread_id="thr_1", created_at=FIXED_TIME, content=[AssistantMessageContent(text="hi")]
                )
                await store.add_thread_item("thr_1", reply, ALICE)
                await store.save_item("thr_1", reply, ALICE)
                await store.save_thread(thread("thr_1"), ALICE)
                assert CountingConnection.statements == 4
            items = await store.load_thread_items("thr_1", None, 10, "asc", ALICE)
            assert [item.id for item in items.data] == ["msg_1", "msg_2"]
    finally:
        await pool.close()


async def test_a_taken_id_during_a_turn_is_a_conflict_and_a_lost_lock_is_said_so(
    postgres_dsn: str, schema: str
) -> None:
    application = f"chatkit_test_{uuid.uuid4().hex[:8]}"
    async with PostgresStore(f"{postgres_dsn}?application_name={application}", schema=schema) as store:
        await store.save_thread(thread("thr_1"), ALICE)
        await store.add_thread_item("thr_1", user_message("thr_1", "msg_1"), ALICE)
        taken = AssistantMessageItem(
            id="msg_1", thread_id="thr_1", created_at=FIXED_TIME, content=[AssistantMessageContent(text="other")]
        )
        async with store.turn_lock("thr_1", ALICE):
            with pytest.raises(IdConflictError):
                await store.add_thread_item("thr_1", taken, ALICE)
        with pytest.raises(TurnLockLostError):
            async with store.turn_lock("thr_1", ALICE):
                async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as admin:
                    await admin.execute(
                        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = %s"
                        " AND state = 'idle in transaction'",
                        (application,),
                    )
                # Refused for the lost lock, which the conflict must not hide.
                await store.add_thread_item("thr_1", taken, ALICE)
        items = await store.load_thread_items("thr_1", None, 10, "asc", ALICE)
        assert [(item.id, item.type) for item in items.data] == [("msg_1", "user_message")]
