"""`GET <endpoint>/threads/{thread_id}/stream`: follow a thread's running turn from any process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from chatkit.asgi._http import ContextBuilder, HTTPProblem, build_context, problem_from, send_bytes, send_problem
from chatkit.asgi._metrics import Metrics
from chatkit.asgi._observe import AccessRecord, call_observed
from chatkit.asgi._streaming import StreamSender
from chatkit.asgi._turns import COORDINATION_TIMEOUT, TurnGate
from chatkit.coordination import Frame, TurnKey
from chatkit.logger import logger
from chatkit.store import Store


class RejoinEndpoint:
    """Streams the running turn of a thread to a client that (re)joins it, as SSE.

    Frames are numbered from 1 within the turn; `?after=N` (or the `Last-Event-ID` header) skips
    the first N. Each frame is the POST stream's `data:` frame preceded by an `id: <number>` line;
    a closing `error` event without an id means the turn can no longer be followed (reload the
    thread). 404 for a thread the caller cannot see, 204 when no turn runs on it.
    """

    def __init__(
        self, store: Store[Any], turns: TurnGate, context: ContextBuilder | None = None, metrics: Metrics | None = None
    ) -> None:
        """`turns` is the gate of the endpoint whose turns are followed; `context` builds the request context."""
        self.store = store
        self.turns = turns
        self.context_builder = context
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        await call_observed(scope, receive, send, self._handle, self.metrics)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, record: AccessRecord, headers: dict[str, str]
    ) -> None:
        record.request_type = "threads.stream"
        try:
            if scope["method"] != "GET":
                raise HTTPProblem(405, "method_not_allowed", "use GET", headers={"allow": "GET"})
            request = Request(scope, receive)
            thread_id: str = scope.get("path_params", {}).get("thread_id", "")
            record.thread_id = thread_id
            after = _after(request)
            context = await build_context(self.context_builder, request)
            await self.store.load_thread(thread_id, context)
            frames = await self._follow(self.turns.key(thread_id, context), after)
        except Exception as error:
            problem = problem_from(error)
            record.outcome, record.status = problem.code, problem.status
            record.bytes_sent = await send_problem(send, problem, record.request_id, headers)
            return
        if frames is None:
            await send_bytes(send, 204, b"", b"text/plain", headers)
            record.outcome, record.status = "not_running", 204
            return
        sender = StreamSender(
            _numbered(frames), send, receive, disconnect_policy="cancel", request_id=record.request_id, headers=headers
        )
        if self.metrics is not None:
            self.metrics.followers.inc()
        try:
            record.outcome = await sender.run()
        finally:
            if self.metrics is not None:
                self.metrics.followers.dec()
        record.status, record.bytes_sent = sender.status, sender.bytes_sent

    async def _follow(self, key: TurnKey, after: int) -> AsyncIterator[Frame] | None:
        try:
            return await asyncio.wait_for(self.turns.coordination.follow(key, after), COORDINATION_TIMEOUT)
        except Exception as exc:
            # Without the coordination there is nothing to follow: the client reloads the thread.
            logger.warning("coordination: cannot follow a running turn (%s)", exc or type(exc))
            return None


def _after(request: Request) -> int:
    raw = request.query_params.get("after") or request.headers.get("last-event-id") or "0"
    try:
        after = int(raw)
    except ValueError:
        after = -1
    if after < 0:
        raise HTTPProblem(400, "invalid_request", "`after` must be a frame number (0 or more)")
    return after


async def _numbered(frames: AsyncIterator[Frame]) -> AsyncGenerator[bytes, None]:
    async for index, frame in frames:
        yield frame if index is None else b"id: %d\n%s" % (index, frame)
