"""Coordination inside one process: turns and their frames in a dictionary."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from chatkit.coordination._base import Coordination, Frame, ReplayLimits, RunningTurn, TurnBuffer, TurnKey


class _MemoryTurn(RunningTurn):
    def __init__(self, owner: MemoryCoordination, key: TurnKey, on_interrupt: Callable[[], None]) -> None:
        self.buffer = TurnBuffer(owner.limits)
        self.on_interrupt = on_interrupt
        self._owner = owner
        self._key = key

    def publish(self, frame: bytes) -> None:
        """Append the frame to the turn's buffer."""
        self.buffer.append(frame)

    async def end(self) -> None:
        """Close the buffer; followers already reading it finish on their own."""
        self.buffer.end()
        if self._owner.turns.get(self._key) is self:
            del self._owner.turns[self._key]


class MemoryCoordination(Coordination):
    """The coordination of a single process (the default for every store but PostgreSQL)."""

    def __init__(self, limits: ReplayLimits | None = None) -> None:
        self.limits = limits or ReplayLimits()
        self.turns: dict[TurnKey, _MemoryTurn] = {}

    async def begin(self, key: TurnKey, on_interrupt: Callable[[], None]) -> RunningTurn:
        """Register the turn of `key` as running here."""
        turn = _MemoryTurn(self, key, on_interrupt)
        self.turns[key] = turn
        return turn

    async def interrupt(self, key: TurnKey) -> bool:
        """Stop the turn of `key` if it runs."""
        turn = self.turns.get(key)
        if turn is None:
            return False
        turn.on_interrupt()
        return True

    async def follow(self, key: TurnKey, after: int) -> AsyncIterator[Frame] | None:
        """Follow the running turn of `key` from its buffer."""
        turn = self.turns.get(key)
        return None if turn is None else turn.buffer.follow(after)

    async def aclose(self) -> None:
        """Nothing to release: the turns end with their requests."""
