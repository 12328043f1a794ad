"""The turn gate with a coordination shared by two gates, as two processes share PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from chatkit.asgi._turns import TurnGate
from chatkit.coordination import MemoryCoordination, RunningTurn, TurnKey
from chatkit.stores import MemoryStore
from tests.stores.samples import thread

ALICE = {"user_id": "alice"}


class SlowToAnnounce(MemoryCoordination):
    """Announces a turn only after a delay, as a turn's record reaches PostgreSQL a moment after it starts."""

    async def begin(self, key: TurnKey, on_interrupt: Callable[[], None]) -> RunningTurn:
        """Register the turn after 0.2 s."""
        await asyncio.sleep(0.2)
        return await super().begin(key, on_interrupt)


async def test_an_interrupt_reaches_a_turn_announced_after_it_was_sent() -> None:
    store = MemoryStore()
    await store.save_thread(thread("thr_1"), ALICE)
    coordination = SlowToAnnounce()
    first_gate = TurnGate(store, "interrupt", 10, coordination)
    second_gate = TurnGate(store, "interrupt", 10, coordination)
    key = TurnKey.of("alice", "thr_1")
    stopped = asyncio.Event()
    holding = asyncio.Event()

    async def first_turn() -> None:
        async with first_gate.turn("thr_1", ALICE, key) as turn:
            turn.on_interrupt(lambda notice: stopped.set())
            holding.set()
            await asyncio.wait_for(stopped.wait(), 5)

    running = asyncio.create_task(first_turn())
    await asyncio.sleep(0.05)  # the first turn holds the thread but is not announced yet
    assert not holding.is_set()
    async with second_gate.turn("thr_1", ALICE, key):
        assert stopped.is_set()
    await running


class SlowToInterrupt(MemoryCoordination):
    """Finds nothing to interrupt at first; a later interrupt lands 0.2 s after it was sent, even if
    the sender stops waiting for it, as a statement the database already received does."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def interrupt(self, key: TurnKey) -> bool:
        """Miss on the first call; land later ones after a delay, whatever happens to the caller."""
        self.calls += 1
        if self.calls == 1:
            return False

        async def land() -> bool:
            await asyncio.sleep(0.2)
            return await MemoryCoordination.interrupt(self, key)

        return await asyncio.shield(asyncio.ensure_future(land()))


class SlowLockStore(MemoryStore):
    """A store whose turn lock takes 0.1 s to get, as a pooled database connection may."""

    @asynccontextmanager
    async def turn_lock(self, thread_id: str, context: Any) -> AsyncIterator[None]:
        """Wait a little, then hold the thread."""
        await asyncio.sleep(0.1)
        async with super().turn_lock(thread_id, context):
            yield


async def test_an_interrupt_a_request_sent_never_stops_its_own_turn() -> None:
    store = SlowLockStore()
    await store.save_thread(thread("thr_1"), ALICE)
    coordination = SlowToInterrupt()
    gate = TurnGate(store, "interrupt", 10, coordination)
    key = TurnKey.of("alice", "thr_1")
    interrupted = asyncio.Event()
    # Nothing runs: the first interrupt misses, a retry is sent at 0.05 s and is still in flight
    # when the request holds the thread at 0.1 s.
    async with gate.turn("thr_1", ALICE, key) as turn:
        turn.on_interrupt(lambda notice: interrupted.set())
        await asyncio.sleep(0.4)
    assert coordination.calls == 2
    assert not interrupted.is_set()
