"""Stops: `POST <endpoint>/threads/{thread_id}/stop` stops a thread's running turn from any process;
`GET <endpoint>/threads/{thread_id}/stopped` names the items stopped turns ended on."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from chatkit.asgi._http import (
    ContextBuilder,
    HTTPProblem,
    OriginCheck,
    build_context,
    problem_from,
    send_bytes,
    send_problem,
)
from chatkit.asgi._metrics import Metrics
from chatkit.asgi._observe import AccessRecord, call_observed
from chatkit.asgi._turns import TurnGate
from chatkit.server.core import CANCELLED_NOTE
from chatkit.server.items import HIDDEN_ITEM_TYPES
from chatkit.store import Store

# How far back (in items, newest first) the stopped route looks: what a page shows of a thread.
STOPPED_SCAN_ITEMS = 500
_SCAN_PAGE = 100


class _ThreadRoute(ABC):
    """A small JSON route about one thread (`{thread_id}` in its path), scoped to the caller.

    Handles what both routes share: the method, the access record, the context, the problem
    answers; `answer` does the work and gives the JSON and the outcome to log.
    """

    method = "GET"
    request_type = ""

    def __init__(self, context: ContextBuilder | None, metrics: Metrics | None) -> None:
        self.context_builder = context
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        await call_observed(scope, receive, send, self._handle, self.metrics)

    def check(self, scope: Scope) -> None:  # noqa: B027 - a hook with nothing to refuse by default
        """Refuse the request before anything runs (nothing to refuse by default)."""

    @abstractmethod
    async def answer(self, thread_id: str, context: Any) -> tuple[dict[str, Any], str]:
        """The JSON answer for the caller's thread, and the outcome to log."""

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, record: AccessRecord, headers: dict[str, str]
    ) -> None:
        record.request_type = self.request_type
        try:
            if scope["method"] != self.method:
                raise HTTPProblem(405, "method_not_allowed", f"use {self.method}", headers={"allow": self.method})
            self.check(scope)
            thread_id: str = scope.get("path_params", {}).get("thread_id", "")
            record.thread_id = thread_id
            context = await build_context(self.context_builder, Request(scope, receive))
            answer, outcome = await self.answer(thread_id, context)
        except Exception as error:
            problem = problem_from(error)
            record.outcome, record.status = problem.code, problem.status
            record.bytes_sent = await send_problem(send, problem, record.request_id, headers)
            return
        body = json.dumps(answer).encode()
        await send_bytes(send, 200, body, b"application/json", headers)
        record.outcome, record.status, record.bytes_sent = outcome, 200, len(body)


class StopEndpoint(_ThreadRoute):
    """Stops the running turn of a thread at once, whatever the disconnect policy, as a user's stop.

    The official client's stop button only closes its stream, which under `"finish"` or `"grace"`
    does not stop the model; a client that means "stop" says so here. The turn ends as a cancelled
    one does (its partial answer saved, `handle_stream_cancelled` called). Answers
    `{"stopped": true}` when a turn was running, `{"stopped": false}` when none was, 404 for a
    thread the caller cannot see. An extension of this package, not part of the ChatKit protocol.
    """

    method = "POST"
    request_type = "threads.stop"

    def __init__(
        self,
        turns: TurnGate,
        origins: OriginCheck,
        context: ContextBuilder | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """`turns` is the gate of the endpoint whose turns are stopped; `context` builds the request context."""
        super().__init__(context, metrics)
        self.turns = turns
        self.origins = origins

    def check(self, scope: Scope) -> None:
        """A stop changes what is saved: a page of another site must not send one with the user's cookies."""
        self.origins.check(scope)

    async def answer(self, thread_id: str, context: Any) -> tuple[dict[str, Any], str]:
        """Stop the caller's turn on the thread, if one runs."""
        stopped = await self.turns.stop(thread_id, context)
        return {"stopped": stopped}, "stopped" if stopped else "not_running"


class StoppedItemsEndpoint(_ThreadRoute):
    """Names the items of a thread on which a stopped turn ended, so a client can mark them after a reload.

    A stop leaves no trace the protocol shows: the partial answer is saved as an ordinary assistant
    message. What marks it is the note `handle_stream_cancelled` saves for the model right after
    it (a hidden item, never listed to clients). This route reads the thread's newest
    `STOPPED_SCAN_ITEMS` items, hidden ones included, and answers `{"items": [...]}`: the ids of the
    visible items just before each such note (the partial answer, or the user's message when the
    stop came before any answer). Read only; nothing the reference's clients receive changes. A
    server whose `handle_stream_cancelled` saves no note has no stopped items to show.
    """

    request_type = "threads.stopped"

    def __init__(
        self, store: Store[Any], context: ContextBuilder | None = None, metrics: Metrics | None = None
    ) -> None:
        """`store` is the server's; `context` builds the request context."""
        super().__init__(context, metrics)
        self.store = store

    async def answer(self, thread_id: str, context: Any) -> tuple[dict[str, Any], str]:
        """The stopped items of the caller's thread (404 for another's)."""
        await self.store.load_thread(thread_id, context)
        return {"items": await self._stopped(thread_id, context)}, "ok"

    async def _stopped(self, thread_id: str, context: Any) -> list[str]:
        """The ids, oldest first, of the visible items followed by a cancellation note."""
        stopped: list[str] = []
        after: str | None = None
        noted = False
        for _ in range(STOPPED_SCAN_ITEMS // _SCAN_PAGE):
            page = await self.store.load_thread_items(thread_id, after, _SCAN_PAGE, "desc", context)
            for item in page.data:
                if item.type == "sdk_hidden_context" and item.content == CANCELLED_NOTE:
                    noted = True
                elif noted and item.type not in HIDDEN_ITEM_TYPES:
                    stopped.append(item.id)
                    noted = False
            if not page.has_more or not page.data:
                break
            after = page.data[-1].id
        return stopped[::-1]
