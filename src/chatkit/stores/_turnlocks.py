"""Every turn lock of a process on one PostgreSQL session, so a running turn holds no connection.

A turn lock is a session-level advisory lock, taken (`pg_try_advisory_lock`) and released
(`pg_advisory_unlock`) one at a time on the process's one lock session. While any lock is held
the session sits in an open transaction: a pooler in transaction mode (PgBouncer) then keeps the
same server connection, where the locks live. The transaction writes nothing and, since every
statement goes by the simple protocol, keeps no snapshot between statements, so it holds back no
vacuum. When the last lock goes, the transaction ends and the connection goes back to its pool.

What this keeps from a connection per turn: a process that dies ends its session, and PostgreSQL
releases every lock it held at that moment. What it changes: a turn waiting for a busy thread asks
again at growing intervals (5 ms to 100 ms) instead of queueing in PostgreSQL, and a lost lock
session (a failover, `pg_terminate_backend`) loses every lock of the process at once; the fenced
writes of those turns then refuse (`TurnLockLostError`), as a lost connection did before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chatkit.stores._errors import StoreUnavailableError

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

# Between two tries for a busy thread's lock: from the first to the last, doubling.
FIRST_RETRY = 0.005
LAST_RETRY = 0.1


@dataclass(frozen=True)
class HeldLock:
    """A turn lock this process holds: on which session (`pid`, `session`) and which lock."""

    pid: int
    lock_id: int
    session: int


class TurnLockSession:
    """Takes and releases the turn locks of one process on a single PostgreSQL session."""

    def __init__(self, pool: AsyncConnectionPool[Any], timeout: float, configure: Callable[[Any], None]) -> None:
        # A pool of at most one connection: it reconnects and checks connections as the statements' pool does.
        self.pool = pool
        self._timeout = timeout
        self._configure = configure
        self._conn: AsyncConnection[Any] | None = None
        self._held = 0
        self._pid = 0
        # Counts sessions, so a lock held on a session that has since been lost is never released on the next.
        self._session = 0
        self._mutex = asyncio.Lock()
        # Releases of locks taken by cancelled tries, kept referenced until they are done.
        self._returning: set[asyncio.Task[None]] = set()

    @property
    def pid(self) -> int | None:
        """The backend pid of the lock session while it holds any lock (it ends with this process)."""
        return self._pid if self._conn is not None else None

    @property
    def held(self) -> int:
        """How many turn locks the process holds now."""
        return self._held

    async def acquire(self, lock_id: int) -> HeldLock:
        """Take the lock, asking again until the turn holding it elsewhere lets it go."""
        delay = FIRST_RETRY
        while True:
            held = await self._shielded_try(lock_id)
            if held is not None:
                return held
            await asyncio.sleep(delay)
            delay = min(delay * 2, LAST_RETRY)

    async def release(self, held: HeldLock) -> None:
        """Let the lock go (a cancelled caller still lets it go)."""
        await asyncio.shield(self._release(held))

    async def close(self) -> None:
        """End the session, releasing whatever it held, and close the pool."""
        async with self._mutex:
            await self._drop()
        await self.pool.close()

    async def _shielded_try(self, lock_id: int) -> HeldLock | None:
        # A try cancelled mid-statement may still take the lock: it runs on, and a lock it took goes back.
        attempt = asyncio.ensure_future(self._try(lock_id))
        try:
            return await asyncio.shield(attempt)
        except asyncio.CancelledError:
            attempt.add_done_callback(self._give_back)
            raise

    def _give_back(self, attempt: asyncio.Future[HeldLock | None]) -> None:
        if attempt.cancelled() or attempt.exception() is not None:
            return
        held = attempt.result()
        if held is not None:
            task = asyncio.ensure_future(self.release(held))
            self._returning.add(task)
            task.add_done_callback(self._returning.discard)

    async def _try(self, lock_id: int) -> HeldLock | None:
        import psycopg

        async with self._mutex:
            conn = await self._connection()
            try:
                # Literal ids and the simple protocol: no portal (and no snapshot) outlives the statement.
                cursor = await conn.execute(f"SELECT pg_backend_pid(), pg_try_advisory_lock({int(lock_id)})".encode())
                row = await cursor.fetchone()
            except psycopg.Error as exc:
                await self._drop()
                raise StoreUnavailableError(f"the turn lock session failed: {exc}") from exc
            assert row is not None
            self._pid = int(row[0])
            if row[1]:
                self._held += 1
                return HeldLock(self._pid, lock_id, self._session)
            if self._held == 0:
                await self._finish()
            return None

    async def _release(self, held: HeldLock) -> None:
        import psycopg

        async with self._mutex:
            conn = self._conn
            if conn is None or held.session != self._session:
                return  # that session ended, and its locks with it
            try:
                await conn.execute(f"SELECT pg_advisory_unlock({int(held.lock_id)})".encode())
            except psycopg.Error:
                await self._drop()
                return
            self._held -= 1
            if self._held == 0:
                await self._finish()

    async def _connection(self) -> AsyncConnection[Any]:
        """The lock session, in its open transaction; borrowed from its pool when no lock is held."""
        import psycopg

        if self._conn is None:
            try:
                conn = await self._begin()
            except psycopg.OperationalError:
                # An idle connection the server dropped (a restart) fails on first use: a fresh one follows.
                try:
                    conn = await self._begin()
                except psycopg.OperationalError as exc:
                    raise StoreUnavailableError(f"the turn lock session failed: {exc}") from exc
            self._conn = conn
            self._session += 1
        return self._conn

    async def _begin(self) -> AsyncConnection[Any]:
        """A connection from the pool in a transaction of its own; closed and given back if that fails."""
        from psycopg_pool import PoolTimeout

        try:
            conn = await self.pool.getconn(timeout=self._timeout)
        except PoolTimeout as exc:
            raise StoreUnavailableError(f"No PostgreSQL connection for the turn locks: {exc}") from exc
        self._configure(conn)
        try:
            if not conn.autocommit:
                await conn.set_autocommit(True)
            # The transaction may stay open for as long as turns run: the server's idle-in-transaction
            # timeout, if set, must not end it.
            await conn.execute(b"BEGIN")
            await conn.execute(b"SELECT set_config('idle_in_transaction_session_timeout', '0', true)")
        except BaseException:
            await conn.close()
            await self.pool.putconn(conn)
            raise
        return conn

    async def _finish(self) -> None:
        """No lock is held: end the transaction and give the connection back."""
        import psycopg

        conn, self._conn = self._conn, None
        if conn is None:
            return
        try:
            await conn.execute(b"COMMIT")
        except psycopg.Error:
            await conn.close()
        await self.pool.putconn(conn)

    async def _drop(self) -> None:
        """The session failed (or the database closes): close it; PostgreSQL releases its locks."""
        conn, self._conn = self._conn, None
        self._held = 0
        if conn is not None:
            await conn.close()
            await self.pool.putconn(conn)
