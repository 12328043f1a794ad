"""What every coordination backend offers, and the per-process buffer of a turn's frames."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

# A follower's frame: its index in the turn (1 for the first frame), or None for a closing
# notice the coordination adds itself, which is not part of the turn.
Frame = tuple[int | None, bytes]


def _notice(message: str) -> bytes:
    event = {"type": "error", "code": "custom", "message": message, "allow_retry": False}
    return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"


OVERFLOW_FRAME = _notice("This answer is too long to follow live; reload the thread to see it.")
"""The last frame a follower gets when the turn outgrew its replay buffer."""

LOST_FRAME = _notice("The live answer can no longer be followed; reload the thread to see it.")
"""The last frame a follower gets when the process running the turn stopped reporting it."""


@dataclass(frozen=True)
class TurnKey:
    """Names a thread's turn the way the stores name rows: the SHA-256 of the scope and of the thread id."""

    scope_key: bytes
    thread_key: bytes

    @classmethod
    def of(cls, scope: str, thread_id: str) -> TurnKey:
        """The key of `thread_id` in `scope`."""
        return cls(hashlib.sha256(scope.encode()).digest(), hashlib.sha256(thread_id.encode()).digest())

    def hex(self) -> str:
        """Both halves as one hexadecimal string (for notifications and logs)."""
        return self.scope_key.hex() + self.thread_key.hex()


@runtime_checkable
class TurnLocking(Protocol):
    """A store that serializes the turns of each thread itself (across processes, for PostgreSQL)."""

    def turn_lock(self, thread_id: str, context: Any) -> AbstractAsyncContextManager[None]:
        """Hold the thread's turn for the duration of the block."""
        ...


@runtime_checkable
class TurnScoping(Protocol):
    """A store that keeps each tenant's rows apart: turns are named in the tenant's scope."""

    def turn_scope(self, context: Any) -> str:
        """The scope `context` belongs to, as the store names it."""
        ...


@dataclass(frozen=True)
class ReplayLimits:
    """How much of a running turn is kept for followers, and how long after it ends."""

    max_frames: int = 20_000
    max_bytes: int = 16 * 1024 * 1024
    linger: float = 30.0
    """Seconds the frames of an ended turn stay readable by followers already reading them."""


class TurnBuffer:
    """The frames of one turn in this process, read by any number of followers at their own pace.

    Appending never waits: a follower that falls behind only reads later, from the list.
    """

    def __init__(self, limits: ReplayLimits) -> None:
        self.frames: list[bytes] = []
        self.size = 0
        self.ended = False
        self.closing: bytes | None = None
        self._max_frames = limits.max_frames
        self._max_bytes = limits.max_bytes
        self._changed = asyncio.Event()
        self._waiting = 0
        # Set once anyone follows the turn: a turn whose client left may be waiting for one.
        self.joined = asyncio.Event()

    def append(self, frame: bytes) -> None:
        """Add the turn's next frame; past the limits the buffer closes with `OVERFLOW_FRAME` instead."""
        # Called for every frame of every turn, followed or not: kept to a few operations.
        if self.ended:
            return
        size = self.size + len(frame)
        if size > self._max_bytes or len(self.frames) >= self._max_frames:
            self.end(OVERFLOW_FRAME)
            return
        self.frames.append(frame)
        self.size = size
        if self._waiting:
            self._wake()

    def end(self, closing: bytes | None = None) -> None:
        """The turn is over (or can no longer be followed, when `closing` says why)."""
        if not self.ended:
            self.ended = True
            self.closing = closing
            self._wake()

    def _wake(self) -> None:
        # set() resolves every waiting follower at once; clearing right away re-arms the event.
        self._changed.set()
        self._changed.clear()

    async def follow(self, after: int) -> AsyncIterator[Frame]:
        """Frames numbered after `after`, then each new one as it comes, until the turn ends."""
        self.joined.set()
        index = max(after, 0)
        while True:
            frames = self.frames
            while index < len(frames):
                index += 1
                yield index, frames[index - 1]
            if self.ended:
                if self.closing is not None:
                    yield None, self.closing
                return
            self._waiting += 1
            try:
                await self._changed.wait()
            finally:
                self._waiting -= 1


class RunningTurn(ABC):
    """A turn this process runs, as the coordination sees it."""

    buffer: TurnBuffer
    """The turn's frames in this process; its `joined` event is set once a follower anywhere reads them."""

    async def joined_within(self, seconds: float) -> bool:
        """Whether someone follows the turn, waiting up to `seconds` for a first follower."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.buffer.joined.wait(), seconds)
        return self.buffer.joined.is_set()

    @abstractmethod
    def publish(self, frame: bytes) -> None:
        """Make the turn's next SSE frame available to followers; never waits."""

    @abstractmethod
    async def end(self) -> None:
        """The turn is over: followers get what remains, then the end of the stream."""


class Coordination(ABC):
    """Running turns as every process serving one store sees them: frames to follow, interrupts to deliver."""

    @abstractmethod
    async def begin(self, key: TurnKey, on_interrupt: Callable[[], None]) -> RunningTurn:
        """Announce that this process runs the turn of `key`; `on_interrupt` is called if another request stops it."""

    @abstractmethod
    async def interrupt(self, key: TurnKey) -> bool:
        """Ask whichever process runs the turn of `key` to stop it; whether a running turn was found."""

    @abstractmethod
    async def follow(self, key: TurnKey, after: int) -> AsyncIterator[Frame] | None:
        """The frames of the running turn of `key` numbered after `after`, then live; None if no turn runs."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release what the coordination holds (connections, tasks)."""
