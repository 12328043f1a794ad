"""Coordination through PostgreSQL: frames in a table, wake-ups by `LISTEN/NOTIFY`, polling without them."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from chatkit.coordination._base import (
    LOST_FRAME,
    OVERFLOW_FRAME,
    Coordination,
    Frame,
    ReplayLimits,
    RunningTurn,
    TurnBuffer,
    TurnKey,
)
from chatkit.logger import logger
from chatkit.stores._database import PostgresDatabase, database_for
from chatkit.stores._errors import StoreError
from chatkit.stores._pg import quoted_schema

if TYPE_CHECKING:
    from psycopg import AsyncConnection

    from chatkit.stores import PostgresStore

T = TypeVar("T")

APPLICATION_NAME = "chatkit-coordination"
"""The `application_name` of the coordination's `LISTEN` session (to tell it apart in `pg_stat_activity`)."""

# After a failed attempt to connect, requests go without coordination for this long rather than
# each paying a connection timeout.
_RETRY_AFTER = 2.0
_LISTEN_RECONNECT = 0.5
# Frames read per query by a follower catching up.
_READ_BATCH = 1000

# Version 1 was created before the tables had a version counter, hence `IF NOT EXISTS`.
_TABLES = [
    # Unlogged: what they hold lives no longer than the turns it describes, so it need not survive
    # a crash or reach replicas, and writing it never waits for the WAL to reach the disk.
    # One row per turn, as its process reports it; a thread's next turn never overwrites it, so
    # a follower still reading the previous one finds its end.
    """CREATE UNLOGGED TABLE IF NOT EXISTS {s}.turn_records (
        turn_id uuid PRIMARY KEY,
        scope_key bytea NOT NULL,
        thread_key bytea NOT NULL,
        frames integer NOT NULL,
        closed boolean NOT NULL,
        overflowed boolean NOT NULL,
        running boolean NOT NULL,
        interrupt boolean NOT NULL,
        followed boolean NOT NULL,
        beat timestamptz NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS turn_records_thread ON {s}.turn_records (scope_key, thread_key)",
    """CREATE UNLOGGED TABLE IF NOT EXISTS {s}.turn_frames (
        turn_id uuid NOT NULL,
        idx integer NOT NULL,
        data bytea NOT NULL,
        PRIMARY KEY (turn_id, idx)
    )""",
]

# Version 2: the backend pid of the session holding the turn's lock in the owner process, so a
# follower elsewhere learns of the owner's death when that session goes, not a heartbeat timeout later.
_OWNER = ["ALTER TABLE {s}.turn_records ADD COLUMN IF NOT EXISTS owner_pid integer"]

# A turn record still describes a live turn: its heartbeat is recent, and the session that holds
# the turn's lock in the owner process (when known) still exists.
_ALIVE = """{t}.beat > now() - make_interval(secs => %(stale)s)
    AND ({t}.owner_pid IS NULL OR EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = {t}.owner_pid))"""

_SQL = {
    "claim": """INSERT INTO {s}.turn_records
            (turn_id, scope_key, thread_key, frames, closed, overflowed, running, interrupt, followed, beat, owner_pid)
        VALUES (%(turn)s, %(scope)s, %(thread)s, 0, false, false, true, false, false, now(), %(owner)s)""",
    # One round trip per flush: the new frames, the turn's state and heartbeat, the wake-up. Frames
    # are written once a follower anywhere asked for the turn (`followed`), not before; a turn that
    # ends with a follower it has not served yet stays `running` until its frames are written.
    "flush": """WITH added AS (
            INSERT INTO {s}.turn_frames (turn_id, idx, data)
            SELECT %(turn)s, idx, data FROM unnest(%(idx)s::integer[], %(data)s::bytea[]) AS f(idx, data)
        ), state AS (
            UPDATE {s}.turn_records SET frames = %(count)s, closed = %(closed)s, overflowed = %(overflowed)s,
                running = %(running)s OR (followed AND NOT %(followed)s), beat = now()
            WHERE turn_id = %(turn)s
            RETURNING interrupt, followed
        )
        SELECT interrupt, followed, CASE WHEN %(notify)s THEN pg_notify(%(channel)s, %(note)s) END FROM state""",
    "interrupt": """UPDATE {s}.turn_records SET interrupt = true
        WHERE scope_key = %(scope)s AND thread_key = %(thread)s AND running
        RETURNING pg_notify(%(channel)s, 'i ' || turn_id::text)""",
    # A follower marks the turn followed and wakes its process, which starts writing its frames.
    "follow": """UPDATE {s}.turn_records SET followed = true
        WHERE turn_id = (SELECT turn_id FROM {s}.turn_records
            WHERE scope_key = %(scope)s AND thread_key = %(thread)s AND running
            AND """
    + _ALIVE.format(t="{s}.turn_records")
    + """ ORDER BY beat DESC LIMIT 1)
        RETURNING turn_id, pg_notify(%(channel)s, 'w ' || turn_id::text)""",
    "read": """SELECT t.frames, t.closed, t.overflowed, t.running, """
    + _ALIVE.format(t="t")
    + """,
            ARRAY(SELECT data FROM {s}.turn_frames
                WHERE turn_id = %(turn)s AND idx > %(have)s AND idx <= t.frames ORDER BY idx LIMIT %(batch)s)
        FROM {s}.turn_records t WHERE t.turn_id = %(turn)s""",
    "drop": """WITH gone AS (DELETE FROM {s}.turn_records WHERE turn_id = %(turn)s)
        DELETE FROM {s}.turn_frames WHERE turn_id = %(turn)s""",
    # Turns that ended a while ago, or whose process stopped reporting (a crash), with their frames.
    "sweep": """WITH gone AS (DELETE FROM {s}.turn_records
            WHERE beat < now() - make_interval(secs => %(age)s) RETURNING turn_id)
        DELETE FROM {s}.turn_frames WHERE turn_id IN (SELECT turn_id FROM gone)""",
}

# How often each process sweeps the records of old turns.
_SWEEP_EVERY = 60.0


async def _fetch_one(query: bytes, params: dict[str, Any], conn: AsyncConnection[Any]) -> Any:
    return await (await conn.execute(query, params)).fetchone()


async def _wait(event: asyncio.Event, timeout: float) -> None:
    """Wait for `event`, at most `timeout` seconds."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)


class CoordinationUnavailable(Exception):
    """The coordination's database cannot be reached right now."""


class _PostgresTurn(RunningTurn):
    """A turn of this process: frames go to a local buffer at once and to the table in the background."""

    def __init__(self, owner: PostgresCoordination, key: TurnKey, on_interrupt: Callable[[], None]) -> None:
        self.buffer = TurnBuffer(owner.limits)
        self.key = key
        self.turn_id = uuid.uuid4()
        self._owner = owner
        self._on_interrupt = on_interrupt
        self._interrupted = False
        self._finished = False
        self.followed = False
        self._wake = asyncio.Event()
        self._flusher = asyncio.create_task(self._flush_loop())

    def publish(self, frame: bytes) -> None:
        """Buffer the frame; wake the flusher if a follower wants it."""
        self.buffer.append(frame)
        if self.followed:
            self._wake.set()

    def follow(self) -> None:
        """A follower in some process asked for this turn: write its frames from now on."""
        self.followed = True
        self.buffer.joined.set()
        self._wake.set()

    def deliver_interrupt(self) -> None:
        """Stop the turn (once), on a request from any process."""
        if not self._interrupted:
            self._interrupted = True
            self._on_interrupt()

    async def end(self) -> None:
        """Flush what remains and mark the turn ended, within the owner's `end_timeout`."""
        self._finished = True
        self.buffer.end()
        self._wake.set()
        owner = self._owner
        if owner.running.get(self.key.hex()) is self:
            del owner.running[self.key.hex()]
        try:
            await asyncio.wait_for(asyncio.shield(self._flusher), owner.end_timeout)
        except asyncio.TimeoutError:
            logger.warning("coordination: the end of a turn could not be recorded in time; followers will stop")
            self._flusher.cancel()
        if self.followed:
            owner.schedule_drop(self.turn_id)

    async def _flush_loop(self) -> None:
        owner = self._owner
        base = {"scope": self.key.scope_key, "thread": self.key.thread_key, "turn": self.turn_id}
        flushed = 0
        try:
            claim = {**base, "owner": owner.lock_session_pid()}
            await owner.run(lambda conn: conn.execute(owner.sql["claim"], claim))
            while True:
                buffer = self.buffer
                if not (self.followed and len(buffer.frames) > flushed) and not self._finished:
                    self._wake.clear()
                    await _wait(self._wake, owner.beat_interval())
                followed, finished = self.followed, self._finished
                count = len(buffer.frames) if followed else flushed
                params = {
                    **base,
                    "idx": list(range(flushed + 1, count + 1)),
                    "data": buffer.frames[flushed:count],
                    "count": count,
                    "closed": followed and buffer.ended,
                    "overflowed": followed and buffer.closing is OVERFLOW_FRAME,
                    "running": not finished,
                    "followed": followed,
                    "notify": count > flushed or finished,
                    "channel": owner.channel,
                    "note": f"f {self.turn_id}",
                }
                row = await owner.run(partial(_fetch_one, owner.sql["flush"], params))
                flushed = count
                if row is not None and row[0]:
                    self.deliver_interrupt()
                if row is not None and row[1] and not followed:
                    self.follow()
                    continue
                if finished:
                    return
        except Exception as exc:
            # The turn goes on; only followers in other processes lose it (they see its heartbeat stop).
            logger.warning("coordination: lost the running turn's record (%s); only this process follows it", exc)


class _Mirror:
    """The frames of a turn another process runs, read once into this process for all its followers."""

    def __init__(self, owner: PostgresCoordination, turn_id: uuid.UUID) -> None:
        self.buffer = TurnBuffer(owner.limits)
        self.wake = asyncio.Event()
        self._owner = owner
        self._turn_id = turn_id
        self.task = asyncio.create_task(self._read_loop())

    async def _read_loop(self) -> None:
        owner = self._owner
        buffer = self.buffer
        params: dict[str, Any] = {
            "turn": self._turn_id,
            "stale": owner.stale_after,
            "batch": _READ_BATCH,
        }
        try:
            while not buffer.ended:
                self.wake.clear()
                params["have"] = have = len(buffer.frames)
                row = await owner.run(partial(_fetch_one, owner.sql["read"], params))
                if row is None:
                    buffer.end(LOST_FRAME)  # the turn's record is gone: this follower came too late
                    break
                count, closed, overflowed, running, fresh, frames = row
                if len(frames) < min(count - have, _READ_BATCH):
                    buffer.end(LOST_FRAME)  # frames already dropped: this follower came too late
                    break
                for frame in frames:
                    buffer.append(frame)
                if len(buffer.frames) < count:
                    continue
                if closed and overflowed:
                    buffer.end(OVERFLOW_FRAME)
                elif not running:
                    buffer.end()
                elif not fresh:
                    buffer.end(LOST_FRAME)
                else:
                    await _wait(self.wake, owner.wait_interval())
        except Exception as exc:
            logger.warning("coordination: stopped following a turn (%s)", exc)
            buffer.end(LOST_FRAME)
        finally:
            if owner.mirrors.get(self._turn_id) is self:
                del owner.mirrors[self._turn_id]


class PostgresCoordination(Coordination):
    """Coordination of every process serving one PostgreSQL database (the default with `PostgresStore`).

    Tables `turn_records` and `turn_frames` live in the schema, turns found by the hashed scope and
    thread id as the store's rows are. Statements run on the `database` given (`for_store` borrows
    the store's) or on one of its own for `dsn`. Wake-ups travel by `LISTEN/NOTIFY` on a session
    of `notify_dsn` (default: the database's); with `listen=False` (for a PgBouncer in
    transaction-pooling mode without a direct DSN) followers and interrupts poll every
    `poll_interval` seconds instead.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        database: PostgresDatabase | None = None,
        schema: str | None = None,
        notify_dsn: str | None = None,
        listen: bool = True,
        limits: ReplayLimits | None = None,
        poll_interval: float = 0.05,
        heartbeat: float = 1.0,
        stale_after: float = 10.0,
        end_timeout: float = 1.5,
        operation_timeout: float = 2.0,
        max_size: int = 4,
        timeout: float = 5.0,
    ) -> None:
        self.database = database_for(
            "PostgresCoordination", dsn, None, database, schema, min_size=1, max_size=max_size, timeout=timeout
        )
        self.schema = self.database.schema
        self.notify_dsn = notify_dsn
        self.listen = listen
        self.limits = limits or ReplayLimits()
        self.poll_interval = poll_interval
        self.heartbeat = heartbeat
        self.stale_after = stale_after
        self.end_timeout = end_timeout
        self.operation_timeout = operation_timeout
        self.channel = "chatkit_" + hashlib.blake2b(self.schema.encode(), digest_size=8).hexdigest()
        self.sql = {name: query.format(s=quoted_schema(self.schema)).encode() for name, query in _SQL.items()}
        # Turns this process runs, by `TurnKey.hex()`.
        self.running: dict[str, _PostgresTurn] = {}
        self.mirrors: dict[uuid.UUID, _Mirror] = {}
        self._opened = False
        self._opening = asyncio.Lock()
        self._retry_at = 0.0
        self._listener: asyncio.Task[None] | None = None
        self._listening = False
        self._listen_failed = False
        self._sweep_at = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()

    @classmethod
    def for_store(cls, store: PostgresStore, **options: Any) -> PostgresCoordination:
        """Coordination in the store's database and schema, on the store's connections."""
        return cls(database=store.database, **options)

    # -- the interface -----------------------------------------------------------------------

    async def begin(self, key: TurnKey, on_interrupt: Callable[[], None]) -> RunningTurn:
        """Record the turn as running here; its record is written in the background."""
        if not self._opened:
            await asyncio.wait_for(self._ready(), self.operation_timeout)
        turn = _PostgresTurn(self, key, on_interrupt)
        self.running[key.hex()] = turn
        if time.monotonic() >= self._sweep_at:
            self._sweep_at = time.monotonic() + _SWEEP_EVERY
            self._spawn(self._sweep)
        return turn

    async def interrupt(self, key: TurnKey) -> bool:
        """Flag the running turn of `key` and notify every process; the one running it stops it."""
        local = self.running.get(key.hex())
        if local is not None:
            local.deliver_interrupt()
            return True
        params = {"scope": key.scope_key, "thread": key.thread_key, "channel": self.channel}

        async def work(conn: AsyncConnection[Any]) -> bool:
            return bool(await (await conn.execute(self.sql["interrupt"], params)).fetchall())

        return await asyncio.wait_for(self.run(work), self.operation_timeout)

    async def follow(self, key: TurnKey, after: int) -> AsyncIterator[Frame] | None:
        """Follow the turn of `key`: from memory if it runs here, else through the tables."""
        local = self.running.get(key.hex())
        if local is not None:
            return local.buffer.follow(after)
        params = {
            "scope": key.scope_key,
            "thread": key.thread_key,
            "stale": self.stale_after,
            "channel": self.channel,
        }
        row = await asyncio.wait_for(self.run(partial(_fetch_one, self.sql["follow"], params)), self.operation_timeout)
        if row is None:
            return None
        turn_id: uuid.UUID = row[0]
        mirror = self.mirrors.get(turn_id)
        if mirror is None:
            mirror = self.mirrors[turn_id] = _Mirror(self, turn_id)
        return mirror.buffer.follow(after)

    async def aclose(self) -> None:
        """Stop listening and reading, and close the connections."""
        tasks = [task for task in (self._listener, *self._tasks) if task is not None]
        tasks += [mirror.task for mirror in self.mirrors.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._listener = None
        async with self._opening:
            if self._opened:
                self._opened = False
                await self.database.aclose()

    # -- connections -------------------------------------------------------------------------

    def lock_session_pid(self) -> int | None:
        """The backend pid of this process's turn lock session, when turns lock on this database."""
        try:
            return self.database.turn_locks.pid
        except StoreError:
            return None

    def beat_interval(self) -> float:
        """How long a turn's flusher may stay silent: it polls for interrupts when nothing is listening."""
        return self.heartbeat if self._listening else min(self.poll_interval, self.heartbeat)

    def wait_interval(self) -> float:
        """How long a follower waits for a wake-up before it reads anyway."""
        return self.heartbeat if self._listening else self.poll_interval

    async def ping(self) -> None:
        """Raise unless the coordination's database answers a trivial query."""
        await self._ready()
        await self.database.ping()

    async def run(self, work: Callable[[AsyncConnection[Any]], Awaitable[T]]) -> T:
        """Run `work` on a pooled connection, on another one if the server ended the first."""
        await self._ready()
        return await self.database.run(work, classify=False)

    async def _ready(self) -> None:
        if self._opened:
            return
        async with self._opening:
            if self._opened:
                return
            if time.monotonic() < self._retry_at:
                raise CoordinationUnavailable("PostgreSQL was unreachable moments ago")
            try:
                await self._open()
            except Exception as exc:
                self._retry_at = time.monotonic() + _RETRY_AFTER
                raise CoordinationUnavailable(f"cannot reach PostgreSQL: {exc}") from exc
            self._opened = True
            if self.listen:
                self._listener = asyncio.create_task(self._listen_loop())
            self._sweep_at = 0.0

    async def _open(self) -> None:
        await self.database.open()
        try:
            await self.database.migrate(
                version_table="coordination_schema_version",
                migrations=[_TABLES, _OWNER],
                lock_name="chatkit-coordination",
                tables=f"The coordination tables in schema {self.schema!r} are",
            )
        except BaseException:
            await self.database.aclose()
            raise
        if self.database.behind_pooler and self.listen and self.notify_dsn is None:
            logger.warning(
                "coordination: PostgreSQL is reached through a connection pooler, where LISTEN does not work; "
                "polling every %s s instead (give PostgresCoordination notify_dsn= a direct DSN for "
                "notifications)",
                self.poll_interval,
            )
            self.listen = False

    async def _listen_loop(self) -> None:
        import psycopg

        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.notify_dsn or self.database.conninfo,
                    autocommit=True,
                    application_name=APPLICATION_NAME,
                    connect_timeout=3,
                ) as conn:
                    await conn.execute(f"LISTEN {self.channel}".encode())
                    self._listening = True
                    # Whatever was sent while nobody listened is read now by the waiting parties.
                    self._wake_all()
                    async for note in conn.notifies():
                        self._dispatch(note.payload)
            except Exception as exc:
                if self._listening or not self._listen_failed:
                    logger.warning("coordination: no LISTEN session (%s); polling until it is back", exc)
                self._listen_failed = True
            finally:
                self._listening = False
            await asyncio.sleep(_LISTEN_RECONNECT)

    def _dispatch(self, payload: str) -> None:
        kind, _, subject = payload.partition(" ")
        if kind == "f":
            try:
                mirror = self.mirrors.get(uuid.UUID(subject))
            except ValueError:
                return
            if mirror is not None:
                mirror.wake.set()
        elif kind in ("i", "w"):
            # By turn id, not thread: a late notice for a thread's previous turn must not reach its next one.
            turn = next((turn for turn in self.running.values() if str(turn.turn_id) == subject), None)
            if turn is not None and kind == "i":
                turn.deliver_interrupt()
            elif turn is not None:
                turn.follow()

    def _wake_all(self) -> None:
        for mirror in self.mirrors.values():
            mirror.wake.set()

    def schedule_drop(self, turn_id: uuid.UUID) -> None:
        """Delete the record and frames of an ended turn after `limits.linger` seconds.

        Only followed turns get this; the others have no frames, and the periodic sweep takes
        their records.
        """

        async def drop() -> None:
            await asyncio.sleep(self.limits.linger)
            await self.run(lambda conn: conn.execute(self.sql["drop"], {"turn": turn_id}))

        self._spawn(drop)

    async def _sweep(self) -> None:
        age = self.limits.linger + self.stale_after
        await self.run(lambda conn: conn.execute(self.sql["sweep"], {"age": age}))

    def _spawn(self, work: Callable[[], Awaitable[Any]]) -> None:
        async def guarded() -> None:
            try:
                await work()
            except Exception as exc:
                logger.warning("coordination: cleaning up old frames failed (%s)", exc)

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
