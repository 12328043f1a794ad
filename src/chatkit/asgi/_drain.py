"""`Drain`: how a process stops without cutting the answers it could finish.

The timeline from the stop signal (SIGTERM under `chatkit serve`; the end of the ASGI lifespan
otherwise): readiness answers 503 at once; for `delay` seconds new requests are still answered,
each on a connection closed after its answer, so the load balancer sees readiness fail and keeps
no idle connection to this process when the listener closes; running turns, streamed or
detached (`disconnect_policy="finish"`), run on until `timeout` seconds after the signal; the
ones still running then are stopped as a user's stop stops them: their partial answers are
saved and `handle_stream_cancelled` runs.
"""

from __future__ import annotations

import asyncio
import time

from chatkit.asgi._turns import TurnGate
from chatkit.logger import logger


class Drain:
    """A graceful stop: readiness off at once, requests answered `delay` s, turns ended or stopped by `timeout` s."""

    def __init__(self, *, delay: float = 5.0, timeout: float = 20.0) -> None:
        if delay < 0 or timeout < 0:
            raise ValueError("a drain's delay and timeout are seconds, zero or more")
        self.delay = delay
        self.timeout = timeout
        self._gates: list[TurnGate] = []
        self._deadline: float | None = None

    @property
    def draining(self) -> bool:
        """Whether the stop has begun (readiness then answers 503)."""
        return self._deadline is not None

    def watch(self, gate: TurnGate) -> None:
        """Finish the turns `gate` runs when draining (an app built by `create_app` gives its own)."""
        self._gates.append(gate)

    def begin(self) -> None:
        """Start the stop, once: readiness answers 503 from now on, and the turns' deadline is set."""
        if self._deadline is None:
            self._deadline = time.monotonic() + self.timeout
            running = sum(gate.running for gate in self._gates)
            logger.info("draining: %d turns running, stopped if still running in %g s", running, self.timeout)

    async def settle(self) -> int:
        """Begin if need be, let the running turns end until the deadline, then stop the rest; how many were stopped."""
        self.begin()
        assert self._deadline is not None
        stopped = sum(await asyncio.gather(*(gate.finish(self._deadline) for gate in self._gates)))
        if stopped:
            logger.warning("drain deadline: %d turns stopped with their partial answers saved", stopped)
        return stopped
