"""`POST <endpoint>/threads/{thread_id}/stop`: stop a thread's running turn from any process."""

from __future__ import annotations

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


class StopEndpoint:
    """Stops the running turn of a thread at once, whatever the disconnect policy, as a user's stop.

    The official client's stop button only closes its stream, which under `"finish"` or `"grace"`
    does not stop the model; a client that means "stop" says so here. The turn ends as a cancelled
    one does (its partial answer saved, `handle_stream_cancelled` called). Answers
    `{"stopped": true}` when a turn was running, `{"stopped": false}` when none was, 404 for a
    thread the caller cannot see. An extension of this package, not part of the ChatKit protocol.
    """

    def __init__(
        self,
        turns: TurnGate,
        origins: OriginCheck,
        context: ContextBuilder | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """`turns` is the gate of the endpoint whose turns are stopped; `context` builds the request context."""
        self.turns = turns
        self.origins = origins
        self.context_builder = context
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        await call_observed(scope, receive, send, self._handle, self.metrics)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, record: AccessRecord, headers: dict[str, str]
    ) -> None:
        record.request_type = "threads.stop"
        try:
            if scope["method"] != "POST":
                raise HTTPProblem(405, "method_not_allowed", "use POST", headers={"allow": "POST"})
            # A stop changes what is saved: a page of another site must not send one with the user's cookies.
            self.origins.check(scope)
            thread_id: str = scope.get("path_params", {}).get("thread_id", "")
            record.thread_id = thread_id
            context = await build_context(self.context_builder, Request(scope, receive))
            stopped = await self.turns.stop(thread_id, context)
        except Exception as error:
            problem = problem_from(error)
            record.outcome, record.status = problem.code, problem.status
            record.bytes_sent = await send_problem(send, problem, record.request_id, headers)
            return
        body = b'{"stopped": true}' if stopped else b'{"stopped": false}'
        await send_bytes(send, 200, body, b"application/json", headers)
        record.outcome, record.status, record.bytes_sent = "stopped" if stopped else "not_running", 200, len(body)
