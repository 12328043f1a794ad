"""A store in PostgreSQL through psycopg 3's async driver and connection pool."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from chatkit.store import NotFoundError
from chatkit.stores import _codec
from chatkit.stores._base import Removal, ScopedStore, clamp_limit, page_of
from chatkit.stores._database import PostgresDatabase, database_for
from chatkit.stores._errors import IdConflictError, TurnLockLostError
from chatkit.stores._locks import KeyedLocks
from chatkit.stores._pg import advisory_lock_id, quoted_schema
from chatkit.stores._scope import ScopeFunction, default_scope
from chatkit.types import Attachment, Page, ThreadItem, ThreadMetadata

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

T = TypeVar("T")

# Ids and scopes are opaque and may be longer than a btree entry allows (about 2.7 kB), so rows
# are keyed by the SHA-256 of their id (`key`) and of their scope (`scope_key`, since version 2),
# computed by the store; the id and scope themselves are kept alongside, unindexed.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE {s}.threads (
            seq bigint GENERATED ALWAYS AS IDENTITY,
            scope text NOT NULL,
            key bytea NOT NULL,
            id text NOT NULL,
            data text NOT NULL,
            PRIMARY KEY (scope, key)
        )""",
        "CREATE INDEX threads_page ON {s}.threads (scope, seq)",
        """CREATE TABLE {s}.items (
            seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            scope text NOT NULL,
            thread_key bytea NOT NULL,
            key bytea NOT NULL,
            thread_id text NOT NULL,
            id text NOT NULL,
            data text NOT NULL,
            UNIQUE (scope, thread_key, key),
            FOREIGN KEY (scope, thread_key) REFERENCES {s}.threads (scope, key) ON DELETE CASCADE
        )""",
        "CREATE INDEX items_page ON {s}.items (scope, thread_key, seq)",
        """CREATE TABLE {s}.attachments (
            scope text NOT NULL,
            key bytea NOT NULL,
            thread_key bytea,
            id text NOT NULL,
            thread_id text,
            data text NOT NULL,
            PRIMARY KEY (scope, key)
        )""",
        "CREATE INDEX attachments_thread ON {s}.attachments (scope, thread_key)",
    ],
    [
        *(
            statement.format(t=table)
            for table in ("threads", "items", "attachments")
            for statement in (
                "ALTER TABLE {{s}}.{t} ADD COLUMN scope_key bytea",
                "UPDATE {{s}}.{t} SET scope_key = sha256(convert_to(scope, 'UTF8'))",
                "ALTER TABLE {{s}}.{t} ALTER COLUMN scope_key SET NOT NULL",
            )
        ),
        # The names PostgreSQL gave the constraints of version 1.
        "ALTER TABLE {s}.items DROP CONSTRAINT items_scope_thread_key_fkey",
        "ALTER TABLE {s}.items DROP CONSTRAINT items_scope_thread_key_key_key",
        "ALTER TABLE {s}.threads DROP CONSTRAINT threads_pkey",
        "ALTER TABLE {s}.attachments DROP CONSTRAINT attachments_pkey",
        "ALTER TABLE {s}.threads ADD PRIMARY KEY (scope_key, key)",
        "ALTER TABLE {s}.items ADD UNIQUE (scope_key, thread_key, key)",
        """ALTER TABLE {s}.items ADD FOREIGN KEY (scope_key, thread_key)
            REFERENCES {s}.threads (scope_key, key) ON DELETE CASCADE""",
        "ALTER TABLE {s}.attachments ADD PRIMARY KEY (scope_key, key)",
        "DROP INDEX {s}.threads_page",
        "DROP INDEX {s}.items_page",
        "DROP INDEX {s}.attachments_thread",
        "CREATE INDEX threads_page ON {s}.threads (scope_key, seq)",
        "CREATE INDEX items_page ON {s}.items (scope_key, thread_key, seq)",
        "CREATE INDEX attachments_thread ON {s}.attachments (scope_key, thread_key)",
    ],
    # When each row was last written, for retention; rows from before the upgrade get the upgrade's
    # time (a constant default: no table rewrite).
    [
        *(
            f"ALTER TABLE {{s}}.{table} ADD COLUMN touched_at timestamptz NOT NULL DEFAULT now()"
            for table in ("threads", "items", "attachments")
        ),
        "CREATE INDEX threads_touched ON {s}.threads (touched_at)",
        "CREATE INDEX attachments_loose ON {s}.attachments (touched_at) WHERE thread_key IS NULL",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)

# An update only when the stored row is the same one (same creation time and kind): a new row
# that reuses its id changes nothing, and the count of changed rows says so. PostgreSQL's JSON
# operators turn every string of the document into text and cannot turn U+0000 (`\u0000`), so
# that escape is made another character in the copy the two fields are read from.
_READABLE = "replace({row}.data, '\\u0000', '\\ufffd')::json"
_STORED, _EXCLUDED = _READABLE.format(row="stored"), _READABLE.format(row="excluded")
_SAME_ROW = f"""({_STORED} ->> 'created_at') IS NOT DISTINCT FROM ({_EXCLUDED} ->> 'created_at')
    AND ({_STORED} ->> 'type') IS NOT DISTINCT FROM ({_EXCLUDED} ->> 'type')"""
_UPSERT_ITEM = """INSERT INTO {s}.items AS stored (scope_key, thread_key, key, scope, thread_id, id, data)
    VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (scope_key, thread_key, key)
    DO UPDATE SET data = excluded.data, touched_at = now()"""
# The threads a removal takes, as parallel arrays of scope keys and keys.
_CHOSEN = "(scope_key, {key}) IN (SELECT * FROM unnest(%s::bytea[], %s::bytea[]))"
_AGO = "now() - make_interval(secs => %s)"

_QUERIES = {
    "load_thread": "SELECT data FROM {s}.threads WHERE scope_key = %s AND key = %s",
    "save_thread": """INSERT INTO {s}.threads AS stored (scope_key, key, scope, id, data) VALUES (%s, %s, %s, %s, %s)
        ON CONFLICT (scope_key, key) DO UPDATE SET data = excluded.data, touched_at = now() WHERE """
    + _SAME_ROW,
    "thread_seq": "SELECT seq FROM {s}.threads WHERE scope_key = %s AND key = %s",
    "threads_asc": "SELECT data FROM {s}.threads WHERE scope_key = %s AND seq > %s ORDER BY seq ASC LIMIT %s",
    "threads_desc": "SELECT data FROM {s}.threads WHERE scope_key = %s AND seq < %s ORDER BY seq DESC LIMIT %s",
    "delete_thread_attachments": "DELETE FROM {s}.attachments WHERE scope_key = %s AND thread_key = %s RETURNING id",
    "delete_thread": "DELETE FROM {s}.threads WHERE scope_key = %s AND key = %s",
    "item_seq": "SELECT seq FROM {s}.items WHERE scope_key = %s AND thread_key = %s AND key = %s",
    "items_asc": """SELECT data FROM {s}.items WHERE scope_key = %s AND thread_key = %s AND seq > %s
        ORDER BY seq ASC LIMIT %s""",
    "items_desc": """SELECT data FROM {s}.items WHERE scope_key = %s AND thread_key = %s AND seq < %s
        ORDER BY seq DESC LIMIT %s""",
    "thread_exists": "SELECT 1 FROM {s}.threads WHERE scope_key = %s AND key = %s",
    "save_item": _UPSERT_ITEM,
    "add_item": _UPSERT_ITEM + " WHERE " + _SAME_ROW,
    "load_item": "SELECT data FROM {s}.items WHERE scope_key = %s AND thread_key = %s AND key = %s",
    # The data-modifying CTE always runs; the count says whether the thread exists.
    "delete_item": """WITH gone AS (DELETE FROM {s}.items WHERE scope_key = %s AND thread_key = %s AND key = %s)
        SELECT count(*) FROM {s}.threads WHERE scope_key = %s AND key = %s""",
    "save_attachment": """INSERT INTO {s}.attachments (scope_key, key, thread_key, scope, id, thread_id, data)
        VALUES (%s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (scope_key, key) DO UPDATE SET thread_key = excluded.thread_key, thread_id = excluded.thread_id,
        data = excluded.data, touched_at = now()""",
    "load_attachment": "SELECT data FROM {s}.attachments WHERE scope_key = %s AND key = %s",
    "delete_attachment": "DELETE FROM {s}.attachments WHERE scope_key = %s AND key = %s",
    # Data upkeep. Rows other sweeps hold are skipped, so processes may sweep at once.
    "idle_threads": f"""SELECT scope_key, key FROM {{s}}.threads AS t WHERE touched_at < {_AGO}
        AND NOT EXISTS (SELECT 1 FROM {{s}}.items AS i WHERE i.scope_key = t.scope_key AND i.thread_key = t.key
            AND i.touched_at >= {_AGO})
        ORDER BY touched_at LIMIT %s FOR UPDATE SKIP LOCKED""",
    "tenant_threads": "SELECT scope_key, key FROM {s}.threads WHERE scope_key = %s ORDER BY seq LIMIT %s FOR UPDATE",
    "count_items": "SELECT count(*) FROM {s}.items WHERE " + _CHOSEN.format(key="thread_key"),
    "remove_thread_attachments": "DELETE FROM {s}.attachments WHERE "
    + _CHOSEN.format(key="thread_key")
    + " RETURNING scope, data",
    "remove_threads": "DELETE FROM {s}.threads WHERE " + _CHOSEN.format(key="key"),
    "remove_loose_attachments": f"""DELETE FROM {{s}}.attachments WHERE ctid IN (SELECT ctid FROM {{s}}.attachments
        WHERE thread_key IS NULL AND touched_at < {_AGO} ORDER BY touched_at LIMIT %s FOR UPDATE SKIP LOCKED)
        RETURNING scope, data""",
    "remove_tenant_attachments": """DELETE FROM {s}.attachments WHERE ctid IN (SELECT ctid FROM {s}.attachments
        WHERE scope_key = %s LIMIT %s FOR UPDATE) RETURNING scope, data""",
    "tenant_attachments": "SELECT data FROM {s}.attachments WHERE scope_key = %s ORDER BY touched_at, key",
    "scopes": "SELECT scope FROM {s}.threads UNION SELECT scope FROM {s}.attachments",
}


# Whether the session `pid` still holds an advisory lock; pg_locks splits a bigint advisory key
# into two unsigned 32-bit halves.
_LOCK_HELD = """SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = %s
    AND classid::bigint = %s AND objid::bigint = %s AND objsubid = 1"""
_FENCE_CHECK = _LOCK_HELD.encode()
# The writes made during a turn, each in a form that writes only while the turn lock is held: one
# statement (one round trip), where a separate check would need a transaction around the two.
_FENCED = ("save_thread", "save_item", "add_item")
_VALUES = re.compile(r"VALUES \(((?:%s, )*%s)\)")


def _fenced(query: str) -> str:
    """`query` (an `INSERT … VALUES`) inserting only while the turn lock (3 more parameters) is held."""
    fenced, count = _VALUES.subn(lambda values: f"SELECT {values[1]} WHERE EXISTS ({_LOCK_HELD})", query)
    assert count == 1, query
    return fenced


def _key(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def _fence_params(fence: tuple[int, int]) -> tuple[int, int, int]:
    """The parameters of `_LOCK_HELD` for a fence (server pid, lock id)."""
    pid, lock_id = fence
    return pid, (lock_id >> 32) & 0xFFFFFFFF, lock_id & 0xFFFFFFFF


def _start(bound: int | None, ascending: bool) -> int:
    if bound is not None:
        return bound
    return -1 if ascending else 2**63 - 1


class PostgresStore(ScopedStore):
    """Keeps threads, items and attachments in a PostgreSQL schema, through an async connection pool.

    Give a `dsn` (the store opens a `PostgresDatabase` of its own), an open `pool` of your own (the
    store leaves it open), or a `database` shared with the other PostgreSQL parts of the process.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        pool: AsyncConnectionPool[Any] | None = None,
        database: PostgresDatabase | None = None,
        schema: str | None = None,
        scope: ScopeFunction = default_scope,
        single_tenant: bool = False,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 10.0,
    ) -> None:
        self.database = database_for(
            "PostgresStore", dsn, pool, database, schema, min_size=min_size, max_size=max_size, timeout=timeout
        )
        super().__init__(scope=scope, single_tenant=single_tenant)
        self.schema = self.database.schema
        # Threads whose turn lock this process holds: (scope key, key) -> (backend pid, lock id).
        self._fences: dict[tuple[bytes, bytes], tuple[int, int]] = {}
        self._locks = KeyedLocks()
        quoted = quoted_schema(self.schema)
        self._sql = {name: query.format(s=quoted).encode() for name, query in _QUERIES.items()}
        self._fenced_sql = {name: _fenced(_QUERIES[name]).format(s=quoted).encode() for name in _FENCED}

    # -- lifecycle ---------------------------------------------------------------------------

    async def _open(self) -> None:
        await self.database.open()
        try:
            await self.database.migrate(
                version_table="schema_version",
                migrations=MIGRATIONS,
                lock_name="chatkit-migrate",
                tables=f"The database schema {self.schema!r} is",
            )
        except BaseException:
            await self.database.aclose()
            raise

    async def _close(self) -> None:
        await self.database.aclose()

    async def _ping(self) -> None:
        await self.database.ping()

    async def schema_version(self) -> int:
        """The schema version recorded in the database."""
        await self._ready()
        version = await self.database.version("schema_version")
        assert version is not None
        return version

    # -- running work on a pooled connection -------------------------------------------------

    async def _run(self, work: Callable[[AsyncConnection[Any]], Awaitable[T]], *, transaction: bool = False) -> T:
        await self._ready()
        # Every operation is idempotent, so a connection the server dropped is retried on another.
        return await self.database.run(work, transaction=transaction)

    async def _fetch(self, query: str, params: tuple[Any, ...]) -> list[Any]:
        async def work(conn: AsyncConnection[Any]) -> list[Any]:
            return await (await conn.execute(self._sql[query], params)).fetchall()

        return await self._run(work)

    async def _execute(self, query: str, params: tuple[Any, ...], thread: tuple[bytes, bytes] | None = None) -> int:
        """Run a write; one to `thread` (scope key, key) is checked against its turn lock, if held here.

        The number of rows it changed.
        """
        fence = self._fences.get(thread) if thread is not None else None

        async def work(conn: AsyncConnection[Any]) -> int:
            if fence is None:
                return (await conn.execute(self._sql[query], params)).rowcount
            changed = (await conn.execute(self._fenced_sql[query], (*params, *_fence_params(fence)))).rowcount
            # Nothing written: the lock was lost, or the row was refused (an id taken); say which.
            if not changed:
                await self._check_fence(conn, thread)
            return changed

        return await self._run(work)

    async def _check_fence(self, conn: AsyncConnection[Any], thread: tuple[bytes, bytes] | None) -> None:
        """Refuse to write a thread whose turn lock this process held but lost.

        A session that ended (failover, `pg_terminate_backend`) released its advisory lock, so
        another process may already run a turn on the thread: writing would interleave the two.
        """
        fence = self._fences.get(thread) if thread is not None else None
        if fence is None:
            return
        if await (await conn.execute(_FENCE_CHECK, _fence_params(fence))).fetchone() is None:
            raise TurnLockLostError("the turn lock was lost (its PostgreSQL session ended); refusing to write")

    @asynccontextmanager
    async def turn_lock(self, thread_id: str, context: Any) -> AsyncIterator[None]:
        """Serialize the turns run on one thread across tasks, processes and hosts (an advisory lock).

        The lock lives on the process's one lock session (`PostgresDatabase.turn_locks`), so a
        running turn holds no connection. While it is held, writes to the thread check that it
        still is: if its session ended, they raise `TurnLockLostError` instead of interleaving with
        the next holder's turn.
        """
        name = f"{self._scope(context)}\0{thread_id}"
        lock_id = advisory_lock_id(f"chatkit-turn\0{self.schema}\0{name}")
        # Tasks of this process queue here first, so only one of them asks PostgreSQL per thread.
        async with self._locks.hold(name):
            await self._ready()
            locks = self.database.turn_locks
            held = await locks.acquire(lock_id)
            fence_key = (_key(self._scope(context)), _key(thread_id))
            self._fences[fence_key] = (held.pid, lock_id)
            try:
                yield
            finally:
                del self._fences[fence_key]
                await locks.release(held)

    # -- threads -----------------------------------------------------------------------------

    async def load_thread(self, thread_id: str, context: Any) -> ThreadMetadata:
        """The thread's metadata; `NotFoundError` if the caller has no such thread."""
        rows = await self._fetch("load_thread", (_key(self._scope(context)), _key(thread_id)))
        if not rows:
            raise NotFoundError(f"Thread {thread_id!r} not found")
        return _codec.load_thread(rows[0][0])

    async def save_thread(self, thread: ThreadMetadata, context: Any) -> None:
        """Create or update the thread's metadata; `IdConflictError` if the id is another thread's."""
        data = _codec.dump_thread(thread)
        scope = self._scope(context)
        scope_key, key = _key(scope), _key(thread.id)
        if not await self._execute("save_thread", (scope_key, key, scope, thread.id, data), thread=(scope_key, key)):
            raise IdConflictError(f"Thread id {thread.id!r} belongs to another thread")

    async def load_threads(self, limit: int, after: str | None, order: str, context: Any) -> Page[ThreadMetadata]:
        """A page of the caller's threads in creation order."""
        scope = _key(self._scope(context))
        limit = clamp_limit(limit)
        ascending = order == "asc"

        async def work(conn: AsyncConnection[Any]) -> list[Any]:
            bound = None
            if after is not None:
                found = await (await conn.execute(self._sql["thread_seq"], (scope, _key(after)))).fetchone()
                if found is None:
                    raise NotFoundError(f"Thread cursor {after!r} not found")
                bound = int(found[0])
            query = self._sql["threads_asc" if ascending else "threads_desc"]
            return await (await conn.execute(query, (scope, _start(bound, ascending), limit + 1))).fetchall()

        rows = await self._run(work)
        return page_of([_codec.load_thread(data) for (data,) in rows], limit)

    async def delete_thread(self, thread_id: str, context: Any) -> None:
        """Delete the thread, its items and its attachments; `NotFoundError` if the caller has no such thread."""
        key = (_key(self._scope(context)), _key(thread_id))

        async def work(conn: AsyncConnection[Any]) -> list[str]:
            await self._check_fence(conn, key)
            # The items go with the thread: ON DELETE CASCADE.
            if not (await conn.execute(self._sql["delete_thread"], key)).rowcount:
                raise NotFoundError(f"Thread {thread_id!r} not found")
            rows = await (await conn.execute(self._sql["delete_thread_attachments"], key)).fetchall()
            return [attachment_id for (attachment_id,) in rows]

        await self._delete_files(await self._run(work, transaction=True), context)

    # -- items -------------------------------------------------------------------------------

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: Any
    ) -> Page[ThreadItem]:
        """A page of the thread's items in insertion order."""
        scope = _key(self._scope(context))
        thread_key = _key(thread_id)
        limit = clamp_limit(limit)
        ascending = order == "asc"

        async def work(conn: AsyncConnection[Any]) -> list[Any]:
            bound = None
            if after is not None:
                cursor = await conn.execute(self._sql["item_seq"], (scope, thread_key, _key(after)))
                found = await cursor.fetchone()
                if found is None:
                    raise NotFoundError(f"Item cursor {after!r} not found in thread {thread_id!r}")
                bound = int(found[0])
            query = self._sql["items_asc" if ascending else "items_desc"]
            rows = await (
                await conn.execute(query, (scope, thread_key, _start(bound, ascending), limit + 1))
            ).fetchall()
            # An existing cursor item proves the thread exists; otherwise an empty page must check.
            if not rows and bound is None:
                exists = await (await conn.execute(self._sql["thread_exists"], (scope, thread_key))).fetchone()
                if exists is None:
                    raise NotFoundError(f"Thread {thread_id!r} not found")
            return rows

        rows = await self._run(work)
        return page_of([self._load_item(data) for (data,) in rows], limit)

    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        """Append the item (updated in place if added before); `IdConflictError` if the id is another item's."""
        if not await self._write_item("add_item", thread_id, item, context):
            raise IdConflictError(f"Item id {item.id!r} belongs to another item of thread {thread_id!r}")

    async def save_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        """Create or replace the item."""
        await self._write_item("save_item", thread_id, item, context)

    async def _write_item(self, query: str, thread_id: str, item: ThreadItem, context: Any) -> int:
        """Run an item upsert in an existing thread; the number of rows it changed."""
        import psycopg

        scope = self._scope(context)
        scope_key, thread_key = _key(scope), _key(thread_id)
        row = (scope_key, thread_key, _key(item.id), scope, thread_id, item.id, _codec.dump_item(item))
        try:
            return await self._execute(query, row, thread=(scope_key, thread_key))
        except psycopg.errors.ForeignKeyViolation:
            raise NotFoundError(f"Thread {thread_id!r} not found") from None

    async def load_item(self, thread_id: str, item_id: str, context: Any) -> ThreadItem:
        """One item of the thread; `NotFoundError` if there is none."""
        rows = await self._fetch("load_item", (_key(self._scope(context)), _key(thread_id), _key(item_id)))
        if not rows:
            raise NotFoundError(f"Item {item_id!r} not found in thread {thread_id!r}")
        return self._load_item(rows[0][0])

    async def delete_thread_item(self, thread_id: str, item_id: str, context: Any) -> None:
        """Delete one item; a missing item is fine, a missing thread is `NotFoundError`."""
        scope, thread_key = _key(self._scope(context)), _key(thread_id)
        params = (scope, thread_key, _key(item_id), scope, thread_key)

        async def work(conn: AsyncConnection[Any]) -> list[Any]:
            await self._check_fence(conn, (scope, thread_key))
            return await (await conn.execute(self._sql["delete_item"], params)).fetchall()

        rows = await self._run(work, transaction=(scope, thread_key) in self._fences)
        if rows[0][0] == 0:
            raise NotFoundError(f"Thread {thread_id!r} not found")

    # -- attachments -------------------------------------------------------------------------

    async def save_attachment(self, attachment: Attachment, context: Any) -> None:
        """Create or update the attachment record."""
        thread_id = attachment.thread_id
        scope = self._scope(context)
        row = (
            _key(scope),
            _key(attachment.id),
            None if thread_id is None else _key(thread_id),
            scope,
            attachment.id,
            thread_id,
            _codec.dump_attachment(attachment),
        )
        await self._execute("save_attachment", row)

    async def load_attachment(self, attachment_id: str, context: Any) -> Attachment:
        """The attachment record; `NotFoundError` if the caller has none."""
        rows = await self._fetch("load_attachment", (_key(self._scope(context)), _key(attachment_id)))
        if not rows:
            raise NotFoundError(f"Attachment {attachment_id!r} not found")
        return self._load_attachment(rows[0][0])

    async def delete_attachment(self, attachment_id: str, context: Any) -> None:
        """Delete the attachment record; `NotFoundError` if the caller has none."""
        if not await self._execute("delete_attachment", (_key(self._scope(context)), _key(attachment_id))):
            raise NotFoundError(f"Attachment {attachment_id!r} not found")

    # -- data upkeep -------------------------------------------------------------------------

    async def _remove_idle(self, idle_for: float, limit: int) -> Removal:
        async def work(conn: AsyncConnection[Any]) -> Removal:
            threads = await (await conn.execute(self._sql["idle_threads"], (idle_for, idle_for, limit))).fetchall()
            removal = await self._remove_threads(conn, threads)
            loose = await conn.execute(self._sql["remove_loose_attachments"], (idle_for, limit))
            removal.attachments += _loaded(await loose.fetchall())
            return removal

        return await self._run(work, transaction=True)

    async def _remove_tenant(self, scope: str, limit: int) -> Removal:
        scope_key = _key(scope)

        async def work(conn: AsyncConnection[Any]) -> Removal:
            threads = await (await conn.execute(self._sql["tenant_threads"], (scope_key, limit))).fetchall()
            removal = await self._remove_threads(conn, threads)
            if len(threads) < limit:
                rest = await conn.execute(self._sql["remove_tenant_attachments"], (scope_key, limit))
                removal.attachments += _loaded(await rest.fetchall())
            return removal

        return await self._run(work, transaction=True)

    async def _remove_threads(self, conn: AsyncConnection[Any], threads: list[Any]) -> Removal:
        """Delete these (scope key, key) threads with their items and attachment records, in the open transaction."""
        if not threads:
            return Removal()
        chosen = ([scope_key for scope_key, _ in threads], [key for _, key in threads])
        items = await (await conn.execute(self._sql["count_items"], chosen)).fetchone()
        attachments = await (await conn.execute(self._sql["remove_thread_attachments"], chosen)).fetchall()
        # The items go with the threads: ON DELETE CASCADE.
        await conn.execute(self._sql["remove_threads"], chosen)
        return Removal(threads=len(threads), items=int(items[0]) if items else 0, attachments=_loaded(attachments))

    async def _tenant_attachments(self, scope: str) -> list[str]:
        return [data for (data,) in await self._fetch("tenant_attachments", (_key(scope),))]

    async def _scopes(self) -> set[str]:
        return {scope for (scope,) in await self._fetch("scopes", ())}


def _loaded(rows: list[Any]) -> list[tuple[str, Attachment]]:
    return [(scope, _codec.load_attachment(data)) for scope, data in rows]
