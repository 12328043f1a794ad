"""Liveness and readiness probes: what a load balancer or an orchestrator holds a process by.

`GET /healthz` answers 200 while the event loop runs (no I/O). `GET /readyz` answers 200 when
every part of the server that can be checked (the store, the attachment store, the coordination)
answers a trivial query in time, and 503 naming the parts that did not, or at once while the
process drains. Neither runs the context builder, and neither is logged below WARNING.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from starlette.types import Receive, Scope, Send

from chatkit.asgi._drain import Drain
from chatkit.asgi._http import send_bytes

logger = logging.getLogger("chatkit.probes")


@runtime_checkable
class Pingable(Protocol):
    """A part of the server a readiness probe can check."""

    async def ping(self) -> None:
        """Raise unless the part answers a trivial request."""
        ...


class Probes:
    """The liveness and readiness answers of one app; readiness is 503 once `drain` has begun."""

    def __init__(self, parts: Mapping[str, object], drain: Drain, *, timeout: float = 2.0) -> None:
        """Readiness checks each part of `parts` (name -> part) that is `Pingable`, within `timeout` seconds."""
        self.checked = {name: part for name, part in parts.items() if isinstance(part, Pingable)}
        self.drain = drain
        self.timeout = timeout

    async def live(self, scope: Scope, receive: Receive, send: Send) -> None:
        """200 while the event loop turns."""
        await _answer(send, 200, {"status": "ok"})

    async def ready(self, scope: Scope, receive: Receive, send: Send) -> None:
        """200 when every checked part answers in time; 503 naming the ones that did not, or while draining."""
        if self.drain.draining:
            await _answer(send, 503, {"status": "draining"})
            return
        names = list(self.checked)
        outcomes = await asyncio.gather(*(self._check(self.checked[name]) for name in names))
        failed = {name: problem for name, problem in zip(names, outcomes, strict=True) if problem is not None}
        if failed:
            logger.warning("not ready: %s", "; ".join(f"{name}: {problem}" for name, problem in failed.items()))
            await _answer(send, 503, {"status": "unavailable", "failed": failed})
            return
        await _answer(send, 200, {"status": "ok", "checked": names})

    async def _check(self, part: Pingable) -> str | None:
        """None when `part` answers within the timeout, else what went wrong (its type, not its text)."""
        try:
            await asyncio.wait_for(part.ping(), self.timeout)
        except asyncio.TimeoutError:
            return f"no answer within {self.timeout:g} s"
        except Exception as error:
            # The class names the failure without echoing a message that may hold a DSN or a path.
            return type(error).__name__
        return None


async def _answer(send: Send, status: int, body: dict[str, object]) -> None:
    await send_bytes(send, status, json.dumps(body).encode(), b"application/json", {"cache-control": "no-store"})
