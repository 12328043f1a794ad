"""One turn at a time per thread, and what to do with a request that finds the thread busy."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Literal, TypeVar

from chatkit.asgi._http import HTTPProblem
from chatkit.asgi._streaming import StopReason
from chatkit.coordination import Coordination, RunningTurn, TurnKey, TurnLocking, TurnScoping
from chatkit.logger import logger
from chatkit.store import Store
from chatkit.stores._locks import KeyedLocks

TurnPolicy = Literal["wait", "reject", "interrupt"]

T = TypeVar("T")

# How long stopped turns get to save their partial answers before a drain gives up on them.
_STOP_GRACE_SECONDS = 5.0

# How long `reject` lets the store's lock answer: long enough for a database round trip, far
# shorter than any turn.
_REJECT_PROBE_SECONDS = 0.5
# How long the rejoin route waits for the coordination to find a running turn. (The coordination
# bounds its own calls: a turn never waits on it for longer.)
COORDINATION_TIMEOUT = 2.0
# A turn that took the thread's lock moments ago in another process may not be announced yet: an
# interrupt that finds no running turn is sent again this often, this many times, while waiting.
_INTERRUPT_RETRY_SECONDS = 0.05
_INTERRUPT_RETRIES = 10


class TurnBusy(HTTPProblem):
    """The thread is in the middle of a turn and the policy does not let this request wait for it."""

    def __init__(self, thread_id: str, waited: bool) -> None:
        reason = "is still busy after waiting" if waited else "is in the middle of a turn"
        super().__init__(409, "thread_busy", f"thread {thread_id} {reason}; try again later")


class Turn:
    """A running turn, which another request may interrupt."""

    def __init__(self) -> None:
        self._interrupt: Callable[[StopReason], None] | None = None
        self._stop_reason = StopReason.TOOK_OVER
        self.interrupted = False
        # The coordination's view of the turn; its `publish` takes every frame of the stream.
        self.running: RunningTurn | None = None

    def on_interrupt(self, callback: Callable[[StopReason], None]) -> None:
        """Call `callback` with the reason when this turn is stopped (a newer request, a drain, the user)."""
        self._interrupt = callback
        if self.interrupted:
            callback(self._stop_reason)

    def interrupt(self, reason: StopReason = StopReason.TOOK_OVER) -> None:
        """Stop this turn, in favour of a newer one unless `reason` says otherwise."""
        if not self.interrupted:
            self.interrupted = True
            self._stop_reason = reason
            if self._interrupt is not None:
                self._interrupt(reason)


class TurnGate:
    """Serializes the turns of each thread: in this process first, then through the store's lock."""

    def __init__(self, store: Store[Any], policy: TurnPolicy, wait_timeout: float, coordination: Coordination) -> None:
        if policy not in ("wait", "reject", "interrupt"):
            raise ValueError(f"turn_policy must be 'wait', 'reject' or 'interrupt', not {policy!r}")
        self._store = store
        self._store_locks = store if isinstance(store, TurnLocking) else None
        self._scoping = store if isinstance(store, TurnScoping) else None
        self._policy = policy
        self._wait_timeout = wait_timeout
        self._locks = KeyedLocks()
        # By `TurnKey.hex()`: two tenants' threads may share an id, never a turn.
        self._running: dict[str, Turn] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self.coordination = coordination

    def key(self, thread_id: str, context: Any) -> TurnKey:
        """The name of the thread's turn for the coordination, in the caller's scope as the store sees it."""
        return TurnKey.of(self._scoping.turn_scope(context) if self._scoping is not None else "", thread_id)

    @asynccontextmanager
    async def turn(
        self, thread_id: str, context: Any, key: TurnKey, *, new: bool = False
    ) -> AsyncGenerator[Turn, None]:
        """Hold the thread for one turn, applying the busy policy; raises `TurnBusy` (409).

        The thread must belong to the caller (`NotFoundError` otherwise), checked before the turn
        is waited for, so another user's id is refused at once, busy or not, and never holds the
        owner's turn even briefly. `new` is for the first turn of a thread the request just created:
        nobody can hold it yet, so there is nothing to check, and only the store's lock (a pooled
        connection) may take time to get, which no policy refuses. `key` names the turn to the
        coordination, which publishes its frames and carries interrupts to and from other processes.
        """
        if not new:
            await self._store.load_thread(thread_id, context)
        retrying: _Retrying | None = None
        name = key.hex()
        running = self._running.get(name)
        if running is not None and self._policy != "wait":
            if self._policy == "reject":
                raise TurnBusy(thread_id, waited=False)
            running.interrupt()
        elif self._policy == "interrupt" and not new:
            retrying = await self._interrupt_elsewhere(key)
        timeout = _REJECT_PROBE_SECONDS if self._policy == "reject" and not new else self._wait_timeout
        deadline = time.monotonic() + timeout
        try:
            # In this process first, then the store's lock (a pooled connection for PostgreSQL).
            async with (
                self._held(self._locks.hold(name), thread_id, deadline),
                self._held(self._store_lock(thread_id, context), thread_id, deadline),
            ):
                if retrying is not None:
                    await retrying.stop()
                turn = Turn()
                self._running[name] = turn
                self._idle.clear()
                turn.running = await self._announce(key, turn)
                try:
                    yield turn
                finally:
                    del self._running[name]
                    if not self._running:
                        self._idle.set()
                    if turn.running is not None:
                        await _settle(turn.running.end(), "record the end of a turn")
        finally:
            if retrying is not None:
                await retrying.stop()

    @property
    def running(self) -> int:
        """How many turns this process runs now (streamed or detached)."""
        return len(self._running)

    async def finish(self, deadline: float) -> int:
        """Let the running turns end until `deadline` (monotonic), then stop the rest as a user's stop does.

        Returns how many had to be stopped; they keep their partial answers.
        """
        # Waking up on "idle" is not the deadline: a request that was already in (its connection
        # accepted before the listener closed) may have started a turn since, which may run too.
        while self._running and time.monotonic() < deadline:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._idle.wait(), max(0.0, deadline - time.monotonic()))
        if time.monotonic() < deadline:
            return 0
        stopped = list(self._running.values())
        for turn in stopped:
            turn.interrupt(StopReason.RESTARTING)
        # A turn that ignores its stop is left to the server's own shutdown deadline.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._idle.wait(), _STOP_GRACE_SECONDS)
        return len(stopped)

    async def stop(self, thread_id: str, context: Any) -> bool:
        """Stop the thread's running turn, in this process or another, as a user's stop; whether one ran.

        `NotFoundError` for a thread the caller cannot see. The turn keeps its partial answer.
        """
        await self._store.load_thread(thread_id, context)
        key = self.key(thread_id, context)
        running = self._running.get(key.hex())
        if running is not None:
            running.interrupt(StopReason.STOPPED)
            return True
        return await _settle(self.coordination.interrupt(key), "stop a turn in another process") is True

    async def _interrupt_elsewhere(self, key: TurnKey) -> _Retrying | None:
        """Stop the thread's turn in whichever process runs it; without coordination, wait for it.

        When no running turn was found, asks again while this request waits for the thread (stop
        it once the thread is held).
        """
        if await _settle(self.coordination.interrupt(key), "interrupt a turn in another process") is not False:
            return None
        return _Retrying(self.coordination, key)

    async def _announce(self, key: TurnKey, turn: Turn) -> RunningTurn | None:
        """Tell the coordination this process runs the turn; None (no followers, no remote interrupts) if it fails."""
        return await _settle(self.coordination.begin(key, turn.interrupt), "announce a running turn")

    def _store_lock(self, thread_id: str, context: Any) -> AbstractAsyncContextManager[None] | None:
        return self._store_locks.turn_lock(thread_id, context) if self._store_locks is not None else None

    @asynccontextmanager
    async def _held(
        self, manager: AbstractAsyncContextManager[None] | None, thread_id: str, deadline: float
    ) -> AsyncGenerator[None, None]:
        """Hold `manager` (a lock) for the block, or raise `TurnBusy` if it is not got by `deadline`."""
        if manager is None:
            yield
            return
        if not await _within(manager.__aenter__(), deadline):
            raise TurnBusy(thread_id, waited=self._policy != "reject")
        try:
            yield
        except BaseException as error:
            if not await manager.__aexit__(type(error), error, error.__traceback__):
                raise
        else:
            await manager.__aexit__(None, None, None)


class _Retrying:
    """Asks the coordination to interrupt a thread's turn every little while, until stopped.

    Stopping waits for an interrupt already sent: cancelling it instead would not take it back
    from the database, and it could then land on the turn this very request starts next.
    """

    def __init__(self, coordination: Coordination, key: TurnKey) -> None:
        self._coordination = coordination
        self._key = key
        self._stopped = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        for _ in range(_INTERRUPT_RETRIES):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), _INTERRUPT_RETRY_SECONDS)
            if self._stopped.is_set():
                return
            reached = await _settle(self._coordination.interrupt(self._key), "interrupt a turn in another process")
            if reached is not False:
                return

    async def stop(self) -> None:
        """Ask no more, and let an interrupt in flight finish first."""
        self._stopped.set()
        await self._task


async def _settle(work: Awaitable[T], what: str) -> T | None:
    """Await a coordination call; on failure or timeout, log a warning and carry on without it."""
    # No `wait_for` here: it costs a task per call, on every turn; the coordination bounds its calls.
    try:
        return await work
    except Exception as exc:
        logger.warning("coordination: could not %s (%s); going on as a single process would", what, exc or type(exc))
        return None


async def _within(acquire: Awaitable[Any], deadline: float) -> bool:
    """Await `acquire` until `deadline`; False if it did not complete in time."""
    try:
        await asyncio.wait_for(acquire, max(deadline - time.monotonic(), 0.001))
    except asyncio.TimeoutError:
        return False
    return True
