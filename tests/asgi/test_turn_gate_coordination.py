"""The turn gate with a coordination shared by two gates, as two processes share PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

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
            turn.on_interrupt(stopped.set)
            holding.set()
            await asyncio.wait_for(stopped.wait(), 5)

    running = asyncio.create_task(first_turn())
    await asyncio.sleep(0.05)  # the first turn holds the thread but is not announced yet
    assert not holding.is_set()
    async with second_gate.turn("thr_1", ALICE, key):
        assert stopped.is_set()
    await running
