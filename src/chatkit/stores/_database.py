"""`PostgresDatabase`: the one PostgreSQL handle of a process, which its PostgreSQL parts borrow.

`PostgresStore`, `PostgresAttachmentStore` and `PostgresCoordination` each keep their own tables
(and version counters) in the database's schema, but run their statements on its one pool, take
turn locks on its one set of lock connections, and share its retries and pooler detection. A
process therefore holds at most `max_connections` sessions (plus the coordination's `LISTEN`
session), whatever the number of parts.

psycopg is imported inside the methods, so importing this module works without it installed.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from typing_extensions import Self

from chatkit.logger import logger
from chatkit.stores._errors import StoreError, StoreUnavailableError
from chatkit.stores._pg import failure, migrate, pooled, quoted_schema, recorded_version, require_psycopg
from chatkit.stores._turnlocks import TurnLockSession

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

T = TypeVar("T")

_INSTALL_HINT = "PostgresDatabase needs psycopg 3 and psycopg-pool: pip install chatkit-server[postgres]"


class PostgresDatabase:
    """One PostgreSQL database and schema, shared by every PostgreSQL part of a process.

    Give a `dsn` (the database owns its pool) or an open `pool` of your own (left open). Statements
    run on a pool of `min_size`..`max_size` connections; every turn lock of the process lives on one
    more session (see `chatkit.stores._turnlocks`), so running turns hold no connection. Parts given
    the same database open it on first use and release it when they close; the connections go when
    the last user releases it. Connections idle for `max_idle` seconds are closed, down to `min_size`.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        pool: AsyncConnectionPool[Any] | None = None,
        schema: str = "chatkit",
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 10.0,
        max_idle: float = 5.0,
    ) -> None:
        require_psycopg(_INSTALL_HINT)
        if (dsn is None) == (pool is None):
            raise ValueError("Give PostgresDatabase a dsn or a pool (one of the two)")
        quoted_schema(schema)
        if min_size < 0 or max_size < max(1, min_size):
            raise ValueError("PostgresDatabase needs 0 <= min_size <= max_size and max_size >= 1")
        self.schema = schema
        self.max_size = pool.max_size if pool is not None else max_size
        self.timeout = timeout
        self.max_idle = max_idle
        self._dsn = dsn
        self._given_pool = pool
        self._min_size = min_size
        self._pool: AsyncConnectionPool[Any] | None = None
        self._turn_locks: TurnLockSession | None = None
        self._users = 0
        self._open_lock = asyncio.Lock()
        # Set on open when a pooler (PgBouncer) stands between the process and PostgreSQL.
        self._behind_pooler = False

    @property
    def max_connections(self) -> int:
        """The most sessions this database holds at once: statements plus the turn lock session."""
        return self.max_size + 1

    @property
    def conninfo(self) -> str:
        """The connection string the pool connects with (for a session of one's own, such as `LISTEN`)."""
        conninfo = self._given_pool.conninfo if self._given_pool is not None else self._dsn
        if not isinstance(conninfo, str):
            raise ValueError("the given pool has no connection string: give PostgresDatabase a dsn")
        return conninfo

    def connections(self) -> tuple[int, int, int]:
        """Connections now: (open, lent out, requests waiting for one), statements and turn locks together."""
        opened = lent = waiting = 0
        locks = self._turn_locks
        for pool in (self._pool, None if locks is None else locks.pool):
            if pool is not None:
                stats = pool.get_stats()
                size = stats.get("pool_size", 0)
                opened += size
                lent += size - stats.get("pool_available", 0)
                waiting += stats.get("requests_waiting", 0)
        return opened, lent, waiting

    @property
    def behind_pooler(self) -> bool:
        """Whether a pooler (PgBouncer) stands between this process and PostgreSQL, known once open."""
        return self._behind_pooler

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the pools (on the first call) and count one more user; each call wants one `aclose`."""
        async with self._open_lock:
            if self._users == 0:
                await self._connect()
            self._users += 1

    async def aclose(self) -> None:
        """Count one user fewer; the last one closes the connections (a given pool stays open)."""
        async with self._open_lock:
            if self._users == 0:
                return
            self._users -= 1
            if self._users == 0:
                await self._disconnect()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _connect(self) -> None:
        from psycopg_pool import AsyncConnectionPool, PoolTimeout

        pool = self._given_pool
        if pool is None:
            pool = AsyncConnectionPool(
                self.conninfo,
                kwargs={"autocommit": True, "connect_timeout": max(2, math.ceil(self.timeout))},
                min_size=self._min_size,
                max_size=self.max_size,
                timeout=self.timeout,
                max_idle=self.max_idle,
                open=False,
                name=f"chatkit-{self.schema}",
            )
            try:
                await pool.open(wait=True, timeout=self.timeout)
            except PoolTimeout as exc:
                await pool.close()
                raise StoreUnavailableError(f"PostgreSQL did not answer within {self.timeout} s: {exc}") from exc
        # The turn lock session reaches the same server the same way, from a pool of its own (of
        # one), so that holding it never takes a connection from the statements.
        lock_pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            pool.conninfo,
            kwargs=pool.kwargs,
            min_size=0,
            max_size=1,
            max_idle=self.max_idle,
            open=False,
            name=f"chatkit-{self.schema}-locks",
        )
        await lock_pool.open()
        self._pool, self._turn_locks = pool, TurnLockSession(lock_pool, self.timeout, self._configure)
        try:
            self._behind_pooler = await self.run(pooled)
        except BaseException:
            await self._disconnect()
            raise
        if self._behind_pooler:
            logger.info("PostgreSQL is reached through a connection pooler: prepared statements are off")

    async def _disconnect(self) -> None:
        pool, self._pool = self._pool, None
        turn_locks, self._turn_locks = self._turn_locks, None
        if turn_locks is not None:
            await turn_locks.close()
        if pool is not None and pool is not self._given_pool:
            await pool.close()

    # -- running work ------------------------------------------------------------------------

    async def run(
        self,
        work: Callable[[AsyncConnection[Any]], Awaitable[T]],
        *,
        transaction: bool = False,
        retry: bool = True,
        classify: bool = True,
    ) -> T:
        """Run `work` on a pooled connection (in a transaction if asked), on another one if the server ended it.

        Retry only idempotent work (`retry=False` otherwise: its commit may have happened with the
        answer lost). With `classify`, a failure is logged and told transient
        (`StoreUnavailableError`) or permanent (`StoreRejectedError`); without, every connection
        failure is `StoreUnavailableError`, unlogged.
        """
        import psycopg
        from psycopg_pool import PoolTimeout

        pool = self._pool
        if pool is None:
            raise StoreError("The PostgreSQL database is closed (open it, or the part using it, first)")
        # A connection the server dropped (restart, pg_terminate_backend) fails on first use: once
        # per pooled connection, the work moves to another one.
        attempts = self.max_size + 1 if retry else 1
        for attempt in range(1, attempts + 1):
            try:
                async with pool.connection(timeout=self.timeout) as conn:
                    self._configure(conn)
                    try:
                        if transaction or not conn.autocommit:
                            async with conn.transaction():
                                return await work(conn)
                        return await work(conn)
                    except psycopg.OperationalError as exc:
                        if not conn.broken or attempt == attempts:
                            if classify:
                                raise failure(exc, conn.broken) from exc
                            raise StoreUnavailableError(f"PostgreSQL operation failed: {exc}") from exc
            except PoolTimeout as exc:
                if classify:
                    logger.warning("no PostgreSQL connection within %s s: %s", self.timeout, exc, exc_info=exc)
                raise StoreUnavailableError(
                    f"No PostgreSQL connection within {self.timeout} s (is the server up?): {exc}"
                ) from exc
        raise StoreUnavailableError("PostgreSQL connections kept failing")

    @property
    def turn_locks(self) -> TurnLockSession:
        """The session every turn lock of the process is held on."""
        if self._turn_locks is None:
            raise StoreError("The PostgreSQL database is closed (open it, or the part using it, first)")
        return self._turn_locks

    def _configure(self, conn: AsyncConnection[Any]) -> None:
        if self._behind_pooler:
            # The next statement may run on a server connection that never saw a preparation.
            conn.prepare_threshold = None

    async def ping(self) -> None:
        """Raise unless PostgreSQL answers a trivial query on a pooled connection (no retry)."""
        await self.run(_select_one, retry=False)

    # -- tables ------------------------------------------------------------------------------

    async def migrate(self, *, version_table: str, migrations: list[list[str]], lock_name: str, tables: str) -> None:
        """Create or upgrade one part's tables in the schema, tracked in its own `version_table`.

        `migrations[n]` lists the statements from version n to n + 1, with `{s}` for the quoted
        schema; `tables` names the tables in the error refusing a newer database.
        """

        async def work(conn: AsyncConnection[Any]) -> None:
            await migrate(
                conn,
                schema=self.schema,
                version_table=version_table,
                migrations=migrations,
                lock_name=lock_name,
                tables=tables,
            )

        await self.run(work, transaction=True)

    async def version(self, version_table: str) -> int | None:
        """The version recorded in `version_table` of the schema, None before the first migration."""

        async def work(conn: AsyncConnection[Any]) -> int | None:
            return await recorded_version(conn, self.schema, version_table)

        return await self.run(work)


async def _select_one(conn: AsyncConnection[Any]) -> None:
    await conn.execute(b"SELECT 1")


def database_for(
    part: str,
    dsn: str | None,
    pool: AsyncConnectionPool[Any] | None,
    database: PostgresDatabase | None,
    schema: str | None,
    /,
    *,
    min_size: int,
    max_size: int,
    timeout: float,
) -> PostgresDatabase:
    """The database `part` (a class name, for errors) runs on: the one given, or its own for `dsn` or `pool`."""
    if database is None:
        if (dsn is None) == (pool is None):
            raise ValueError(f"Give {part} a dsn, a pool or a database (one of the three)")
        return PostgresDatabase(
            dsn, pool=pool, schema=schema or "chatkit", min_size=min_size, max_size=max_size, timeout=timeout
        )
    if dsn is not None or pool is not None:
        raise ValueError(f"Give {part} a dsn, a pool or a database (one of the three)")
    if schema is not None and schema != database.schema:
        raise ValueError(f"{part} was given schema {schema!r} and a database on schema {database.schema!r}")
    return database
