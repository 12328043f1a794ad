"""The soak run: many streaming clients against one server process, for a while, watching its memory.

Each client starts a thread, then keeps adding turns to it with a short think time between them.
The run passes with zero errors and the server's RSS at the end within 10% of its RSS after the
first 10 s. `scripts/reliability/soak.py` (`make soak`) runs 500 clients for 60 s; the suite runs a
20 s version.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.reliability.clients import message_request
from tests.reliability.rawhttp import raw_stream_turn
from tests.reliability.serving import ServerProcess

WARMUP_SECONDS = 10.0
RSS_TOLERANCE = 0.10
TURN_TIMEOUT = 60.0
# Ten deltas 50 ms apart, twice: each turn streams for about a second.
PACE = ["--deltas", "10", "--pause", "0.05"]


@dataclass
class SoakResult:
    """The figures of a soak run."""

    clients: int
    seconds: float
    turns: int = 0
    errors: list[str] = field(default_factory=list[str])
    first_event: list[float] = field(default_factory=list[float])
    rss_after_warmup: int = 0
    rss_at_end: int = 0

    def percentile(self, fraction: float) -> float:
        """The latency below which `fraction` of first events arrived, in seconds."""
        ordered = sorted(self.first_event)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")

    @property
    def rss_growth(self) -> float:
        """RSS growth after the warm-up, as a fraction."""
        return self.rss_at_end / self.rss_after_warmup - 1 if self.rss_after_warmup else float("inf")

    @property
    def passed(self) -> bool:
        """Zero errors, and memory flat after the warm-up."""
        return not self.errors and self.turns > 0 and self.rss_growth <= RSS_TOLERANCE

    def summary(self) -> str:
        """The figures, one per line."""
        mib = 1024 * 1024
        return "\n".join(
            [
                f"clients: {self.clients}, duration: {self.seconds:.0f} s, turns completed: {self.turns} "
                f"({self.turns / self.seconds:.1f}/s), errors: {len(self.errors)}",
                f"first event: p50 {self.percentile(0.5) * 1000:.0f} ms, p99 {self.percentile(0.99) * 1000:.0f} ms",
                f"server RSS: {self.rss_after_warmup / mib:.1f} MiB after {WARMUP_SECONDS:.0f} s, "
                f"{self.rss_at_end / mib:.1f} MiB at the end ({self.rss_growth:+.1%}, limit +{RSS_TOLERANCE:.0%})",
                "PASS" if self.passed else "FAIL",
            ]
        )


async def soak(clients: int, seconds: float, workdir: Path, *, think: tuple[float, float] = (0.5, 1.5)) -> SoakResult:
    """Run `clients` streaming clients for `seconds` against a fresh server on a SQLite file in `workdir`."""
    server = ServerProcess("--store", f"sqlite:///{workdir / 'soak.db'}", *PACE, log=workdir / "soak-server.log")
    result = SoakResult(clients, seconds)
    rng = random.Random(0)
    await server.start()
    try:
        started = time.monotonic()
        stop_at = started + seconds

        async def client_loop(number: int) -> None:
            # Arrivals spread over the first two seconds rather than all at once.
            await asyncio.sleep(rng.uniform(0, 2))
            thread_id = None
            index = 0
            while time.monotonic() < stop_at:
                request = message_request(f"soak {number}.{index}", thread_id)
                turn = await raw_stream_turn("127.0.0.1", server.port, "/chatkit", request, "soak", TURN_TIMEOUT)
                if not turn.completed:
                    result.errors.append(f"client {number}: {turn.status} {turn.error or turn.body[:200]}")
                    return
                result.turns += 1
                if turn.first_event_seconds is not None:
                    result.first_event.append(turn.first_event_seconds)
                thread_id = thread_id or turn.thread_id
                index += 1
                await asyncio.sleep(rng.uniform(*think))

        async def sample_after_warmup() -> None:
            await asyncio.sleep(WARMUP_SECONDS)
            result.rss_after_warmup = server.rss_bytes()

        sampler = asyncio.create_task(sample_after_warmup())
        await asyncio.gather(*(client_loop(number) for number in range(clients)))
        await sampler
        result.seconds = time.monotonic() - started
        result.rss_at_end = server.rss_bytes()
    finally:
        await server.stop()
    return result
