"""A store in one SQLite file (or in memory): the embedded default."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from chatkit.logger import logger
from chatkit.store import NotFoundError
from chatkit.stores import _codec
from chatkit.stores._base import Removal, ScopedStore, clamp_limit, page_of
from chatkit.stores._errors import IdConflictError, StoreError, StoreRejectedError, StoreUnavailableError
from chatkit.stores._locks import KeyedLocks
from chatkit.stores._scope import ScopeFunction, default_scope
from chatkit.types import Attachment, Page, ThreadItem, ThreadMetadata

T = TypeVar("T")

# The current time in Unix seconds, in SQL (julianday works on every SQLite; unixepoch needs 3.38).
_NOW = "((julianday('now') - 2440587.5) * 86400.0)"

# Each entry migrates the schema from version `index` to `index + 1`.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE chatkit_threads (
            seq INTEGER PRIMARY KEY,
            scope TEXT NOT NULL,
            id TEXT NOT NULL,
            data TEXT NOT NULL,
            UNIQUE (scope, id)
        )""",
        "CREATE INDEX chatkit_threads_page ON chatkit_threads (scope, seq)",
        """CREATE TABLE chatkit_items (
            seq INTEGER PRIMARY KEY,
            scope TEXT NOT NULL,
            thread_id TEXT NOT NULL,
            id TEXT NOT NULL,
            data TEXT NOT NULL,
            UNIQUE (scope, thread_id, id),
            FOREIGN KEY (scope, thread_id) REFERENCES chatkit_threads (scope, id) ON DELETE CASCADE
        )""",
        "CREATE INDEX chatkit_items_page ON chatkit_items (scope, thread_id, seq)",
        """CREATE TABLE chatkit_attachments (
            scope TEXT NOT NULL,
            id TEXT NOT NULL,
            thread_id TEXT,
            data TEXT NOT NULL,
            PRIMARY KEY (scope, id)
        )""",
        "CREATE INDEX chatkit_attachments_thread ON chatkit_attachments (scope, thread_id)",
    ],
    # When each row was last written (Unix seconds), for retention. SQLite adds a column only with
    # a constant default, so rows from before the upgrade are stamped with the upgrade's time.
    [
        *(
            statement.format(table=table)
            for table in ("chatkit_threads", "chatkit_items", "chatkit_attachments")
            for statement in (
                "ALTER TABLE {table} ADD COLUMN touched_at REAL NOT NULL DEFAULT 0",
                "UPDATE {table} SET touched_at = " + _NOW,
            )
        ),
        "CREATE INDEX chatkit_threads_touched ON chatkit_threads (touched_at)",
        "CREATE INDEX chatkit_attachments_loose ON chatkit_attachments (touched_at) WHERE thread_id IS NULL",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)

_UPSERT_ITEM = f"""INSERT INTO chatkit_items (scope, thread_id, id, data, touched_at) VALUES (?, ?, ?, ?, {_NOW})
    ON CONFLICT (scope, thread_id, id) DO UPDATE SET data = excluded.data, touched_at = excluded.touched_at"""
# An update only when the stored row is the same one (same creation time and kind): a new row
# that reuses its id changes nothing, and the count of changed rows says so.
_SAME_ROW = """json_extract(data, '$.created_at') IS json_extract(excluded.data, '$.created_at')
    AND json_extract(data, '$.type') IS json_extract(excluded.data, '$.type')"""
_ADD_ITEM = _UPSERT_ITEM + " WHERE " + _SAME_ROW
_SAVE_THREAD = (
    f"""INSERT INTO chatkit_threads (scope, id, data, touched_at) VALUES (?, ?, ?, {_NOW})
    ON CONFLICT (scope, id) DO UPDATE SET data = excluded.data, touched_at = excluded.touched_at WHERE """
    + _SAME_ROW
)
# Threads of any tenant whose last write (the thread's or any item's) is `?` seconds old or older.
_IDLE_THREADS = f"""SELECT scope, id FROM chatkit_threads AS t WHERE touched_at < {_NOW} - ?
    AND NOT EXISTS (SELECT 1 FROM chatkit_items AS i WHERE i.scope = t.scope AND i.thread_id = t.id
        AND i.touched_at >= {_NOW} - ?)
    ORDER BY touched_at LIMIT ?"""
_LOOSE_ATTACHMENTS = f"""DELETE FROM chatkit_attachments WHERE rowid IN (SELECT rowid FROM chatkit_attachments
    WHERE thread_id IS NULL AND touched_at < {_NOW} - ? ORDER BY touched_at LIMIT ?) RETURNING scope, data"""
# SQLite result codes (the low byte of the extended code) of failures that may pass: busy or
# locked files, I/O, a full disk, a file that cannot be opened, memory.
_TRANSIENT_CODES = {5, 6, 7, 10, 13, 14, 15}


class SQLiteStore(ScopedStore):
    """Keeps threads, items and attachments in a SQLite database, off the event loop.

    One connection on one dedicated thread does all the work, so the event loop never waits on
    SQLite; the file is in WAL mode with a busy timeout, so several processes can share it.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = ":memory:",
        *,
        scope: ScopeFunction = default_scope,
        single_tenant: bool = False,
        busy_timeout: float = 5.0,
    ) -> None:
        super().__init__(scope=scope, single_tenant=single_tenant)
        self.path = os.fspath(path)
        self._busy_timeout_ms = int(busy_timeout * 1000)
        self._executor: ThreadPoolExecutor | None = None
        # Only ever touched on the executor's thread.
        self._connection: sqlite3.Connection | None = None
        self._locks = KeyedLocks()

    @asynccontextmanager
    async def turn_lock(self, thread_id: str, context: Any) -> AsyncIterator[None]:
        """Serialize the turns run on one thread across the tasks of this process."""
        async with self._locks.hold(f"{self._scope(context)}\0{thread_id}"):
            yield

    # -- lifecycle ---------------------------------------------------------------------------

    async def _open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chatkit-sqlite")
        try:
            await self._submit(self._connect)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    async def _close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(executor, self._disconnect)
            finally:
                executor.shutdown(wait=False)

    def _connect(self) -> None:
        connection = sqlite3.connect(self.path, isolation_level=None)
        try:
            connection.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
            connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("PRAGMA foreign_keys = ON")
            # Switching to WAL while another process sets the file up fails at once with "locked"
            # (SQLite skips the busy handler there), so setup is retried until the busy timeout.
            deadline = time.monotonic() + self._busy_timeout_ms / 1000
            while True:
                try:
                    connection.execute("PRAGMA journal_mode = WAL")
                    self._migrate(connection)
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
        except BaseException:
            connection.close()
            raise
        self._connection = connection

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    @staticmethod
    def _migrate(connection: sqlite3.Connection) -> None:
        # BEGIN IMMEDIATE takes the write lock first, so two processes migrating at once take turns.
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.execute("CREATE TABLE IF NOT EXISTS chatkit_schema_version (version INTEGER NOT NULL)")
            row = connection.execute("SELECT version FROM chatkit_schema_version").fetchone()
            version = 0 if row is None else int(row[0])
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"The database schema is at version {version}, newer than this chatkit supports "
                    f"({SCHEMA_VERSION}); upgrade chatkit-server."
                )
            for statements in MIGRATIONS[version:]:
                for statement in statements:
                    connection.execute(statement)
            if row is None:
                connection.execute("INSERT INTO chatkit_schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
            else:
                connection.execute("UPDATE chatkit_schema_version SET version = ?", (SCHEMA_VERSION,))
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise

    async def schema_version(self) -> int:
        """The schema version recorded in the database."""
        return await self._run(lambda db: int(db.execute("SELECT version FROM chatkit_schema_version").fetchone()[0]))

    async def _ping(self) -> None:
        await self._run(lambda db: db.execute("SELECT 1").fetchone())

    # -- running work on the store's thread --------------------------------------------------

    async def _submit(self, work: Callable[[], T]) -> T:
        assert self._executor is not None
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work)
        except (sqlite3.OperationalError, sqlite3.DataError) as exc:
            code = getattr(exc, "sqlite_errorcode", None)
            if isinstance(exc, sqlite3.OperationalError) and (code is None or code & 0xFF in _TRANSIENT_CODES):
                logger.warning("SQLite database %s is unavailable: %s", self.path, exc, exc_info=exc)
                raise StoreUnavailableError(f"SQLite database {self.path!r} failed: {exc}") from exc
            logger.error("SQLite database %s refused an operation: %s", self.path, exc, exc_info=exc)
            raise StoreRejectedError(f"SQLite database {self.path!r} refused the operation: {exc}") from exc

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        await self._ready()

        def call() -> T:
            assert self._connection is not None
            return work(self._connection)

        return await self._submit(call)

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` in a write transaction, taking the write lock up front."""

        def transaction(db: sqlite3.Connection) -> T:
            db.execute("BEGIN IMMEDIATE")
            try:
                result = work(db)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            return result

        return await self._run(transaction)

    # -- threads -----------------------------------------------------------------------------

    async def load_thread(self, thread_id: str, context: Any) -> ThreadMetadata:
        """The thread's metadata; `NotFoundError` if the caller has no such thread."""
        scope = self._scope(context)

        def work(db: sqlite3.Connection) -> ThreadMetadata:
            row = db.execute("SELECT data FROM chatkit_threads WHERE scope = ? AND id = ?", (scope, thread_id))
            found = row.fetchone()
            if found is None:
                raise NotFoundError(f"Thread {thread_id!r} not found")
            return _codec.load_thread(found[0])

        return await self._run(work)

    async def save_thread(self, thread: ThreadMetadata, context: Any) -> None:
        """Create or update the thread's metadata; `IdConflictError` if the id is another thread's."""
        row = (self._scope(context), thread.id, _codec.dump_thread(thread))
        if not await self._run(lambda db: db.execute(_SAVE_THREAD, row).rowcount):
            raise IdConflictError(f"Thread id {thread.id!r} belongs to another thread")

    async def load_threads(self, limit: int, after: str | None, order: str, context: Any) -> Page[ThreadMetadata]:
        """A page of the caller's threads in creation order."""
        scope = self._scope(context)
        limit = clamp_limit(limit)
        ascending = order == "asc"

        def work(db: sqlite3.Connection) -> list[ThreadMetadata]:
            bound = _cursor_seq(db, "SELECT seq FROM chatkit_threads WHERE scope = ? AND id = ?", (scope, after))
            rows = db.execute(
                "SELECT data FROM chatkit_threads WHERE scope = ? AND seq "
                + (">" if ascending else "<")
                + " ? ORDER BY seq "
                + ("ASC" if ascending else "DESC")
                + " LIMIT ?",
                (scope, _start(bound, ascending), limit + 1),
            )
            return [_codec.load_thread(data) for (data,) in rows]

        return page_of(await self._run(work), limit)

    async def delete_thread(self, thread_id: str, context: Any) -> None:
        """Delete the thread, its items and its attachments; `NotFoundError` if the caller has no such thread."""
        key = (self._scope(context), thread_id)

        def work(db: sqlite3.Connection) -> list[str]:
            # The items go with the thread: ON DELETE CASCADE.
            if not db.execute("DELETE FROM chatkit_threads WHERE scope = ? AND id = ?", key).rowcount:
                raise NotFoundError(f"Thread {thread_id!r} not found")
            rows = db.execute("DELETE FROM chatkit_attachments WHERE scope = ? AND thread_id = ? RETURNING id", key)
            return [attachment_id for (attachment_id,) in rows.fetchall()]

        await self._delete_files(await self._write(work), context)

    # -- items -------------------------------------------------------------------------------

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: Any
    ) -> Page[ThreadItem]:
        """A page of the thread's items in insertion order."""
        scope = self._scope(context)
        limit = clamp_limit(limit)
        ascending = order == "asc"

        def work(db: sqlite3.Connection) -> list[ThreadItem]:
            bound = _cursor_seq(
                db,
                "SELECT seq FROM chatkit_items WHERE scope = ? AND thread_id = ? AND id = ?",
                (scope, thread_id, after),
            )
            rows = db.execute(
                "SELECT data FROM chatkit_items WHERE scope = ? AND thread_id = ? AND seq "
                + (">" if ascending else "<")
                + " ? ORDER BY seq "
                + ("ASC" if ascending else "DESC")
                + " LIMIT ?",
                (scope, thread_id, _start(bound, ascending), limit + 1),
            ).fetchall()
            # An existing cursor item proves the thread exists; otherwise an empty page must check.
            if not rows and bound is None:
                _require_thread(db, scope, thread_id)
            return [self._load_item(data) for (data,) in rows]

        return page_of(await self._run(work), limit)

    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        """Append the item (updated in place if added before); `IdConflictError` if the id is another item's."""
        if not await self._write_item(thread_id, item, context, _ADD_ITEM):
            raise IdConflictError(f"Item id {item.id!r} belongs to another item of thread {thread_id!r}")

    async def save_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        """Create or replace the item."""
        await self._write_item(thread_id, item, context, _UPSERT_ITEM)

    async def _write_item(self, thread_id: str, item: ThreadItem, context: Any, statement: str) -> int:
        """Run an item upsert in an existing thread; the number of rows it changed."""
        scope = self._scope(context)
        row = (scope, thread_id, item.id, _codec.dump_item(item))

        def work(db: sqlite3.Connection) -> int:
            _require_thread(db, scope, thread_id)
            return db.execute(statement, row).rowcount

        return await self._write(work)

    async def load_item(self, thread_id: str, item_id: str, context: Any) -> ThreadItem:
        """One item of the thread; `NotFoundError` if there is none."""
        key = (self._scope(context), thread_id, item_id)

        def work(db: sqlite3.Connection) -> ThreadItem:
            found = db.execute(
                "SELECT data FROM chatkit_items WHERE scope = ? AND thread_id = ? AND id = ?", key
            ).fetchone()
            if found is None:
                raise NotFoundError(f"Item {item_id!r} not found in thread {thread_id!r}")
            return self._load_item(found[0])

        return await self._run(work)

    async def delete_thread_item(self, thread_id: str, item_id: str, context: Any) -> None:
        """Delete one item; a missing item is fine, a missing thread is `NotFoundError`."""
        scope = self._scope(context)

        def work(db: sqlite3.Connection) -> None:
            _require_thread(db, scope, thread_id)
            db.execute(
                "DELETE FROM chatkit_items WHERE scope = ? AND thread_id = ? AND id = ?", (scope, thread_id, item_id)
            )

        await self._write(work)

    # -- attachments -------------------------------------------------------------------------

    async def save_attachment(self, attachment: Attachment, context: Any) -> None:
        """Create or update the attachment record."""
        row = (self._scope(context), attachment.id, attachment.thread_id, _codec.dump_attachment(attachment))
        await self._run(
            lambda db: db.execute(
                f"""INSERT INTO chatkit_attachments (scope, id, thread_id, data, touched_at) VALUES (?, ?, ?, ?, {_NOW})
                ON CONFLICT (scope, id) DO UPDATE SET thread_id = excluded.thread_id, data = excluded.data,
                touched_at = excluded.touched_at""",
                row,
            )
        )

    async def load_attachment(self, attachment_id: str, context: Any) -> Attachment:
        """The attachment record; `NotFoundError` if the caller has none."""
        key = (self._scope(context), attachment_id)

        def work(db: sqlite3.Connection) -> Attachment:
            found = db.execute("SELECT data FROM chatkit_attachments WHERE scope = ? AND id = ?", key).fetchone()
            if found is None:
                raise NotFoundError(f"Attachment {attachment_id!r} not found")
            return self._load_attachment(found[0])

        return await self._run(work)

    async def delete_attachment(self, attachment_id: str, context: Any) -> None:
        """Delete the attachment record; `NotFoundError` if the caller has none."""
        key = (self._scope(context), attachment_id)
        deleted = await self._run(
            lambda db: db.execute("DELETE FROM chatkit_attachments WHERE scope = ? AND id = ?", key).rowcount
        )
        if not deleted:
            raise NotFoundError(f"Attachment {attachment_id!r} not found")

    # -- data upkeep -------------------------------------------------------------------------

    async def _remove_idle(self, idle_for: float, limit: int) -> Removal:
        def work(db: sqlite3.Connection) -> Removal:
            removal = _remove_threads(db, db.execute(_IDLE_THREADS, (idle_for, idle_for, limit)).fetchall())
            removal.attachments += _loaded(db.execute(_LOOSE_ATTACHMENTS, (idle_for, limit)))
            return removal

        return await self._write(work)

    async def _remove_tenant(self, scope: str, limit: int) -> Removal:
        def work(db: sqlite3.Connection) -> Removal:
            threads = db.execute(
                "SELECT scope, id FROM chatkit_threads WHERE scope = ? ORDER BY seq LIMIT ?", (scope, limit)
            ).fetchall()
            removal = _remove_threads(db, threads)
            if len(threads) < limit:
                removal.attachments += _loaded(
                    db.execute(
                        """DELETE FROM chatkit_attachments WHERE rowid IN
                        (SELECT rowid FROM chatkit_attachments WHERE scope = ? LIMIT ?) RETURNING scope, data""",
                        (scope, limit),
                    )
                )
            return removal

        return await self._write(work)

    async def _tenant_attachments(self, scope: str) -> list[str]:
        def work(db: sqlite3.Connection) -> list[str]:
            rows = db.execute("SELECT data FROM chatkit_attachments WHERE scope = ? ORDER BY rowid", (scope,))
            return [data for (data,) in rows]

        return await self._run(work)

    async def _scopes(self) -> set[str]:
        def work(db: sqlite3.Connection) -> set[str]:
            rows = db.execute("SELECT scope FROM chatkit_threads UNION SELECT scope FROM chatkit_attachments")
            return {scope for (scope,) in rows}

        return await self._run(work)


def _remove_threads(db: sqlite3.Connection, threads: list[tuple[str, str]]) -> Removal:
    """Delete these (scope, id) threads with their items and attachment records, in the open transaction."""
    removal = Removal(threads=len(threads))
    for key in threads:
        removal.items += db.execute(
            "SELECT count(*) FROM chatkit_items WHERE scope = ? AND thread_id = ?", key
        ).fetchone()[0]
        removal.attachments += _loaded(
            db.execute("DELETE FROM chatkit_attachments WHERE scope = ? AND thread_id = ? RETURNING scope, data", key)
        )
        db.execute("DELETE FROM chatkit_threads WHERE scope = ? AND id = ?", key)
    return removal


def _loaded(rows: sqlite3.Cursor) -> list[tuple[str, Attachment]]:
    return [(scope, _codec.load_attachment(data)) for scope, data in rows.fetchall()]


def _require_thread(db: sqlite3.Connection, scope: str, thread_id: str) -> None:
    found = db.execute("SELECT 1 FROM chatkit_threads WHERE scope = ? AND id = ?", (scope, thread_id)).fetchone()
    if found is None:
        raise NotFoundError(f"Thread {thread_id!r} not found")


def _cursor_seq(db: sqlite3.Connection, query: str, key: tuple[Any, ...]) -> int | None:
    """The sequence number of the cursor row (the last element of `key`), or None without a cursor."""
    if key[-1] is None:
        return None
    found = db.execute(query, key).fetchone()
    if found is None:
        raise NotFoundError(f"Cursor {key[-1]!r} not found")
    return int(found[0])


def _start(bound: int | None, ascending: bool) -> int:
    """The exclusive bound a page starts from: the cursor's sequence number, or past either end."""
    if bound is not None:
        return bound
    return -1 if ascending else 2**63 - 1
