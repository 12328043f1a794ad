"""What only the PostgreSQL store promises: cross-process turn locks, recovery, clear failures."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool

from chatkit.store import NotFoundError
from chatkit.stores import (
    PostgresDatabase,
    PostgresStore,
    StoreError,
    StoreRejectedError,
    StoreUnavailableError,
    TurnLockLostError,
)

from .backends import drop_postgres_schema, postgres_schema
from .samples import thread, user_message

pytestmark = pytest.mark.service

ALICE = {"user_id": "alice"}

HOLD_LOCK_CHILD = """
import asyncio, sys
from chatkit.stores import PostgresStore

async def main():
    async with PostgresStore(sys.argv[1], schema=sys.argv[2]) as store:
        async with store.turn_lock("thr_1", {"user_id": "alice"}):
            print("locked", flush=True)
            await asyncio.sleep(1.0)
        print("released", flush=True)

asyncio.run(main())
"""


@pytest.fixture
async def schema(postgres_dsn: str, tmp_path: Path) -> AsyncIterator[str]:
    name = postgres_schema(tmp_path)
    yield name
    await drop_postgres_schema(name)


async def test_the_schema_version_is_recorded_and_a_newer_one_refused(postgres_dsn: str, schema: str) -> None:
    async with PostgresStore(postgres_dsn, schema=schema) as store:
        assert await store.schema_version() == 3
    async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as conn:
        await conn.execute(f'UPDATE "{schema}".schema_version SET version = 7'.encode())
    with pytest.raises(StoreError, match="version 7"):
        await PostgresStore(postgres_dsn, schema=schema).open()


async def test_turn_lock_serializes_across_processes(postgres_dsn: str, schema: str) -> None:
    async with PostgresStore(postgres_dsn, schema=schema) as store:
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", HOLD_LOCK_CHILD, postgres_dsn, schema, stdout=asyncio.subprocess.PIPE
        )
        assert child.stdout is not None
        try:
            assert await asyncio.wait_for(child.stdout.readline(), 30) == b"locked\n"
            started = time.perf_counter()
            async with store.turn_lock("thr_1", ALICE):
                waited = time.perf_counter() - started
                assert await asyncio.wait_for(child.stdout.readline(), 5) == b"released\n"
            assert waited > 0.5
            # Another thread, or the same thread id of another tenant, is not held up.
            async with store.turn_lock("thr_2", ALICE), store.turn_lock("thr_1", {"user_id": "bob"}):
                pass
        finally:
            await asyncio.wait_for(child.wait(), 30)
        assert child.returncode == 0


async def test_turn_lock_serializes_two_stores_on_one_database(postgres_dsn: str, schema: str) -> None:
    async with (
        PostgresStore(postgres_dsn, schema=schema) as first,
        PostgresStore(postgres_dsn, schema=schema) as second,
    ):
        order: list[str] = []
        held = asyncio.Event()

        async def hold() -> None:
            async with first.turn_lock("thr_1", ALICE):
                held.set()
                await asyncio.sleep(0.3)
                order.append("first released")

        async def wait() -> None:
            await held.wait()
            async with second.turn_lock("thr_1", ALICE):
                order.append("second acquired")

        await asyncio.wait_for(asyncio.gather(hold(), wait()), 30)
        assert order == ["first released", "second acquired"]


async def test_a_cancelled_lock_wait_leaves_no_lock_behind(postgres_dsn: str, schema: str) -> None:
    async with (
        PostgresStore(postgres_dsn, schema=schema) as first,
        PostgresStore(postgres_dsn, schema=schema) as second,
    ):
        async with first.turn_lock("thr_1", ALICE):

            async def wait_forever() -> None:
                async with second.turn_lock("thr_1", ALICE):
                    pass

            with pytest.raises(asyncio.TimeoutError):
                await asyncio.wait_for(wait_forever(), 0.3)

        async def both() -> None:
            async with second.turn_lock("thr_1", ALICE), first.turn_lock("thr_2", ALICE):
                pass

        await asyncio.wait_for(both(), 10)


async def test_a_turn_whose_lock_session_ended_may_not_write_its_thread(postgres_dsn: str, schema: str) -> None:
    """Found by the reliability suite: a lost lock let two turns interleave their items."""
    application = f"chatkit_test_{uuid.uuid4().hex[:8]}"
    async with (
        PostgresStore(f"{postgres_dsn}?application_name={application}", schema=schema) as store,
        await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as admin,
    ):
        for thread_id in ("thr_1", "thr_2"):
            await store.save_thread(thread(thread_id), ALICE)
        with pytest.raises(TurnLockLostError):
            async with store.turn_lock("thr_1", ALICE):
                await store.add_thread_item("thr_1", user_message("thr_1", "msg_before"), ALICE)
                # The session holding the lock ends, as in a failover: the lock is released with it.
                await admin.execute(
                    "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = %s"
                    " AND pid IN (SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted)",
                    (application,),
                )
                await store.add_thread_item("thr_2", user_message("thr_2", "msg_elsewhere"), ALICE)
                await store.add_thread_item("thr_1", user_message("thr_1", "msg_after"), ALICE)
        items = await store.load_thread_items("thr_1", None, 10, "asc", ALICE)
        assert [item.id for item in items.data] == ["msg_before"]
        async with store.turn_lock("thr_1", ALICE):
            await store.add_thread_item("thr_1", user_message("thr_1", "msg_next_turn"), ALICE)


async def test_the_pool_recovers_from_terminated_connections(postgres_dsn: str, schema: str) -> None:
    application = f"chatkit_test_{uuid.uuid4().hex[:8]}"
    dsn = f"{postgres_dsn}?application_name={application}"
    async with PostgresStore(dsn, schema=schema, min_size=3, max_size=3) as store:
        await store.save_thread(thread("thr_1"), ALICE)
        await asyncio.gather(*(store.load_thread("thr_1", ALICE) for _ in range(6)))
        async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as admin:
            cursor = await admin.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
                (application,),
            )
            killed = await cursor.fetchone()
        assert killed is not None and killed[0] >= 1
        await asyncio.sleep(0.1)
        for number in range(5):
            await store.add_thread_item("thr_1", user_message("thr_1", f"msg_{number}"), ALICE)
        assert len((await store.load_thread_items("thr_1", None, 10, "asc", ALICE)).data) == 5


async def test_a_server_that_is_down_is_a_clear_error_not_a_hang() -> None:
    store = PostgresStore("postgresql://postgres@127.0.0.1:9/test", timeout=1.0)
    started = time.perf_counter()
    with pytest.raises(StoreUnavailableError, match="PostgreSQL"):
        await store.open()
    with pytest.raises(StoreUnavailableError):
        await store.load_thread("thr_1", ALICE)
    assert time.perf_counter() - started < 10


async def test_a_pool_of_your_own_is_used_and_left_open(postgres_dsn: str, schema: str) -> None:
    # Connections of this pool are not autocommit: the store must still commit its writes.
    pool = AsyncConnectionPool(postgres_dsn, min_size=1, max_size=2, open=False)
    await pool.open()
    try:
        async with PostgresStore(pool=pool, schema=schema) as store:
            await store.save_thread(thread("thr_1"), ALICE)
            await store.add_thread_item("thr_1", user_message("thr_1", "msg_1"), ALICE)
            async with store.turn_lock("thr_1", ALICE):
                pass
        assert not pool.closed
        async with PostgresStore(postgres_dsn, schema=schema) as other:
            assert [item.id for item in (await other.load_thread_items("thr_1", None, 5, "asc", ALICE)).data] == [
                "msg_1"
            ]
    finally:
        await pool.close()


def test_construction_checks_its_arguments_without_connecting() -> None:
    with pytest.raises(ValueError, match="one of the three"):
        PostgresStore("postgresql://nowhere.invalid/db", pool=AsyncConnectionPool("", open=False))
    with pytest.raises(ValueError, match="one of the three"):
        PostgresStore()
    database = PostgresDatabase("postgresql://nowhere.invalid/db", schema="tenant")
    with pytest.raises(ValueError, match="one of the three"):
        PostgresStore("postgresql://nowhere.invalid/db", database=database)
    with pytest.raises(ValueError, match="schema 'other' and a database on schema 'tenant'"):
        PostgresStore(database=database, schema="other")
    assert PostgresStore(database=database).schema == "tenant"
    with pytest.raises(ValueError, match="plain SQL identifier"):
        PostgresStore("postgresql://nowhere.invalid/db", schema='x"; DROP SCHEMA public; --')
    PostgresStore("postgresql://nowhere.invalid/db", schema="Tenant_Data")


class _Proxy:
    """A TCP proxy in front of PostgreSQL that the test can cut and restore, like a network outage."""

    def __init__(self, port: int) -> None:
        self.upstream_port = port
        self.server: asyncio.Server | None = None
        self.port = 0
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        self.writers.update((writer, up_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except ConnectionError:
                pass
            finally:
                sink.close()
                self.writers.discard(sink)

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_a_database_that_goes_down_mid_use_fails_clearly_then_recovers(postgres_dsn: str, schema: str) -> None:
    upstream = conninfo_to_dict(postgres_dsn)
    proxy = _Proxy(int(upstream.get("port") or 5432))
    await proxy.start()
    dsn = make_conninfo(postgres_dsn, host="127.0.0.1", port=str(proxy.port))
    async with PostgresStore(dsn, schema=schema, min_size=2, max_size=2, timeout=1.0) as store:
        await store.save_thread(thread("thr_1"), ALICE)
        await proxy.cut()
        started = time.perf_counter()
        with pytest.raises(StoreUnavailableError):
            await store.add_thread_item("thr_1", user_message("thr_1", "msg_1"), ALICE)
        with pytest.raises(StoreUnavailableError):
            await store.load_thread("thr_1", ALICE)
        assert time.perf_counter() - started < 10
        await proxy.start()
        deadline = time.monotonic() + 20
        while True:
            try:
                await store.add_thread_item("thr_1", user_message("thr_1", "msg_1"), ALICE)
                break
            except StoreUnavailableError:
                assert time.monotonic() < deadline, "the pool did not recover once the database was back"
                await asyncio.sleep(0.2)
        assert [item.id for item in (await store.load_thread_items("thr_1", None, 5, "asc", ALICE)).data] == ["msg_1"]
    await proxy.cut()


async def test_a_version_1_database_is_migrated_to_hashed_scope_keys(postgres_dsn: str, schema: str) -> None:
    """Version 1 keyed rows by the raw scope: its rows survive the migration, and long scopes then work."""
    from chatkit.stores import _postgres

    quoted = f'"{schema}"'
    async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as conn:
        await conn.execute(f"CREATE SCHEMA {quoted}".encode())
        await conn.execute(f"CREATE TABLE {quoted}.schema_version (version integer NOT NULL)".encode())
        for statement in _postgres.MIGRATIONS[0]:
            await conn.execute(statement.format(s=quoted).encode())
        await conn.execute(f"INSERT INTO {quoted}.schema_version VALUES (1)".encode())
        thread_row = ("alice", _postgres._key("thr_1"), "thr_1", thread("thr_1", title="old").model_dump_json())  # pyright: ignore[reportPrivateUsage]
        await conn.execute(
            f"INSERT INTO {quoted}.threads (scope, key, id, data) VALUES (%s, %s, %s, %s)".encode(), thread_row
        )
        item_columns = "scope, thread_key, key, thread_id, id, data"
        item_row = ("alice", thread_row[1], _postgres._key("msg_1"), "thr_1", "msg_1")  # pyright: ignore[reportPrivateUsage]
        await conn.execute(
            f"INSERT INTO {quoted}.items ({item_columns}) VALUES (%s, %s, %s, %s, %s, %s)".encode(),
            (*item_row, user_message("thr_1", "msg_1").model_dump_json()),
        )
    long_user = {"user_id": "".join(chr(0x4E00 + (index * 7919) % 20000) for index in range(4000))}
    async with PostgresStore(postgres_dsn, schema=schema) as store:
        assert await store.schema_version() == 3
        assert (await store.load_thread("thr_1", ALICE)).title == "old"
        assert [row.id for row in (await store.load_thread_items("thr_1", None, 10, "asc", ALICE)).data] == ["msg_1"]
        with pytest.raises(NotFoundError):
            await store.load_thread("thr_1", {"user_id": "bob"})
        await store.save_thread(thread("thr_1"), long_user)
        await store.add_thread_item("thr_1", user_message("thr_1", "msg_1"), long_user)
        await store.delete_thread("thr_1", ALICE)
        assert (await store.load_thread("thr_1", long_user)).id == "thr_1"


async def test_a_permanent_failure_is_rejected_not_unavailable_and_logged(
    postgres_dsn: str, schema: str, caplog: pytest.LogCaptureFixture
) -> None:
    """An index over the raw scope (as version 1 had) refuses a long, incompressible one: that is no outage."""
    long_user = {"user_id": "".join(chr(0x4E00 + (index * 7919) % 20000) for index in range(4000))}
    async with PostgresStore(postgres_dsn, schema=schema) as store:
        async with await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as conn:
            await conn.execute(f'CREATE INDEX raw_scope ON "{schema}".threads (scope)'.encode())
        with caplog.at_level("ERROR", logger="chatkit"), pytest.raises(StoreRejectedError) as raised:
            await store.save_thread(thread("thr_1"), long_user)
        assert not isinstance(raised.value, StoreUnavailableError)
        assert isinstance(raised.value.__cause__, psycopg.errors.ProgramLimitExceeded)
        assert any("54000" in record.getMessage() and record.exc_info for record in caplog.records)
        await store.save_thread(thread("thr_1"), ALICE)


async def test_text_with_a_nul_character_is_updated_like_any_other(postgres_dsn: str, schema: str) -> None:
    # PostgreSQL's JSON operators cannot read U+0000, which an update's identity check used to meet.
    async with PostgresStore(postgres_dsn, schema=schema) as store:
        await store.save_thread(thread("thr_nul"), ALICE)
        for title in ("a\x00b", "typed \\u0000 literally", "c\x00d"):
            await store.save_thread(thread("thr_nul", title=title), ALICE)
            assert (await store.load_thread("thr_nul", ALICE)).title == title
        await store.add_thread_item("thr_nul", user_message("thr_nul", "msg_1", "a\x00b"), ALICE)
        await store.save_item("thr_nul", user_message("thr_nul", "msg_1", "e\x00f"), ALICE)
        (item,) = (await store.load_thread_items("thr_nul", None, 10, "asc", ALICE)).data
        assert item.model_dump()["content"][0]["text"] == "e\x00f"


async def test_many_turns_at_once_share_one_lock_session_and_hold_no_connection(postgres_dsn: str, schema: str) -> None:
    application = f"chatkit_test_{uuid.uuid4().hex[:8]}"
    store = PostgresStore(f"{postgres_dsn}?application_name={application}", schema=schema, max_size=2)
    turns = 40
    async with store, await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as admin:
        for number in range(turns):
            await store.save_thread(thread(f"thr_{number}"), ALICE)
        all_held = asyncio.Event()
        holding = 0

        async def run_turn(number: int) -> None:
            nonlocal holding
            async with store.turn_lock(f"thr_{number}", ALICE):
                holding += 1
                if holding == turns:
                    all_held.set()
                await asyncio.wait_for(all_held.wait(), 30)
                # A fenced write of every turn, with the statements' pool of two.
                await store.add_thread_item(f"thr_{number}", user_message(f"thr_{number}", f"msg_{number}"), ALICE)

        async def sessions_while_held() -> int:
            await all_held.wait()
            cursor = await admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (application,)
            )
            row = await cursor.fetchone()
            return int(row[0]) if row else 0

        _, counted = await asyncio.gather(asyncio.gather(*(run_turn(n) for n in range(turns))), sessions_while_held())
        # Forty turns held their locks at once on two statement connections and one lock session.
        assert counted <= store.database.max_connections == 3
        assert store.database.turn_locks.held == 0
        for number in range(turns):
            items = await store.load_thread_items(f"thr_{number}", None, 10, "asc", ALICE)
            assert [item.id for item in items.data] == [f"msg_{number}"]


async def test_the_turn_lock_session_recovers_from_a_dropped_idle_connection(postgres_dsn: str, schema: str) -> None:
    application = f"chatkit_test_{uuid.uuid4().hex[:8]}"
    async with (
        PostgresStore(f"{postgres_dsn}?application_name={application}", schema=schema) as store,
        await psycopg.AsyncConnection.connect(postgres_dsn, autocommit=True) as admin,
    ):
        await store.save_thread(thread("thr_1"), ALICE)
        async with store.turn_lock("thr_1", ALICE):
            pass  # the lock session's connection now waits, idle, in its pool
        await admin.execute(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE application_name = %s", (application,)
        )
        async with store.turn_lock("thr_1", ALICE):
            await store.add_thread_item("thr_1", user_message("thr_1", "msg_1"), ALICE)
        items = await store.load_thread_items("thr_1", None, 10, "asc", ALICE)
        assert [item.id for item in items.data] == ["msg_1"]
