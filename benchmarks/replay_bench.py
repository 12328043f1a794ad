"""Memory one running turn's replay buffer can hold, and what followers that never read add to it.

python benchmarks/replay_bench.py

A follower (a reload, a second tab) reads the turn's frames from one shared list at its own pace;
one that stops reading keeps the list alive, never a copy of it. Printed: the memory the buffer of
a turn that streams without end holds once it overflows its `ReplayLimits`, then the same with
1,000 followers that started and never read on.
"""

from __future__ import annotations

import asyncio
import tracemalloc

from chatkit.coordination._base import ReplayLimits, TurnBuffer

FRAME_BYTES = 1_000


def frame(number: int) -> bytes:
    """A distinct frame of `FRAME_BYTES` (a shared one would cost nothing to keep)."""
    head = b'data: {"type":"thread.item.updated","n":%d,"delta":"' % number
    return head + b"x" * (FRAME_BYTES - len(head) - 4) + b'"}\n\n'


FOLLOWERS = 1_000


async def turn_with_stalled_followers(followers: int) -> tuple[int, int, bool]:
    """Fill one turn's buffer past its limits with `followers` stalled readers; (bytes held, frames, ended)."""
    tracemalloc.start()
    buffer = TurnBuffer(ReplayLimits())
    readers = [buffer.follow(0).__aiter__() for _ in range(followers)]
    buffer.append(frame(0))
    for reader in readers:
        await reader.__anext__()  # each reads the first frame, then never again
    while not buffer.ended:
        buffer.append(frame(len(buffer.frames)))
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    frames = len(buffer.frames)
    for reader in readers:
        await reader.aclose()  # type: ignore[attr-defined]
    return held, frames, buffer.ended


def main() -> None:
    limits = ReplayLimits()
    print(f"limits per turn: {limits.max_bytes / 2**20:.0f} MiB or {limits.max_frames:,} frames")
    for followers in (0, FOLLOWERS):
        held, frames, ended = asyncio.run(turn_with_stalled_followers(followers))
        print(f"{followers:>5} stalled followers: {held / 2**20:6.1f} MiB held, {frames:,} frames, overflowed={ended}")


if __name__ == "__main__":
    main()
