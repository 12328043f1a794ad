"""`POST /chatkit`: hands the request body to a `ChatKitServer` and answers JSON or an event stream."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from chatkit.asgi._http import (
    ContextBuilder,
    HTTPProblem,
    OriginCheck,
    build_context,
    check_content_length,
    invalid_request,
    problem_from,
    read_body,
    require_json,
    send_bytes,
    send_problem,
)
from chatkit.asgi._metrics import Metrics
from chatkit.asgi._observe import AccessRecord, call_observed
from chatkit.asgi._rejoin import RejoinEndpoint
from chatkit.asgi._stop import StopEndpoint, StoppedItemsEndpoint
from chatkit.asgi._streaming import DisconnectPolicy, StreamSender
from chatkit.asgi._turns import TurnGate, TurnPolicy
from chatkit.coordination import Coordination, coordination_for
from chatkit.errors import InvalidRequestError
from chatkit.server import ChatKitServer, NonStreamingResult
from chatkit.server.core import Dispatcher
from chatkit.server.requests import parse_request, thread_id_of
from chatkit.types import ChatKitReq, is_streaming_req


class ChatKitEndpoint:
    """The ChatKit endpoint as an ASGI app, for a `POST` route in an existing Starlette or FastAPI app.

    `create_app` builds a complete app around it (uploads, CORS, access log); use this class
    directly to add the one route to a router of your own, e.g.
    `app.add_route("/chatkit", ChatKitEndpoint(server), methods=["POST"])`. A browser request from
    a page of another origin is refused (403) unless that origin is in `allowed_origins` (give it
    the origins your CORS configuration allows).

    `endpoint.rejoin` serves the rejoin route: add it too, as
    `app.add_route("/chatkit/threads/{thread_id}/stream", endpoint.rejoin, methods=["GET"])`, and
    call `await endpoint.coordination.aclose()` when the app shuts down. `endpoint.stop` serves the
    stop route (`POST /chatkit/threads/{thread_id}/stop`, see `StopEndpoint`).
    """

    def __init__(
        self,
        server: ChatKitServer[Any],
        *,
        context: ContextBuilder | None = None,
        max_body_bytes: int = 1_048_576,
        turn_policy: TurnPolicy = "wait",
        turn_wait_timeout: float = 30.0,
        disconnect_policy: DisconnectPolicy = "cancel",
        disconnect_grace: float = 10.0,
        allowed_origins: Sequence[str] = (),
        coordination: Coordination | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        """`metrics`, if given, counts every request and streamed turn (`create_app` gives its own)."""
        if disconnect_policy not in ("cancel", "finish", "grace"):
            raise ValueError(f"disconnect_policy must be 'cancel', 'finish' or 'grace', not {disconnect_policy!r}")
        if disconnect_grace < 0:
            raise ValueError(f"disconnect_grace must be seconds, zero or more, not {disconnect_grace!r}")
        self.server = server
        self.context_builder = context
        self.max_body_bytes = max_body_bytes
        self.disconnect_policy: DisconnectPolicy = disconnect_policy
        self.disconnect_grace = disconnect_grace
        self.coordination = coordination if coordination is not None else coordination_for(server.store)
        self.turns = TurnGate(server.store, turn_policy, turn_wait_timeout, self.coordination)
        self.origins = OriginCheck(allowed_origins)
        self.metrics = metrics
        self.rejoin = RejoinEndpoint(server.store, self.turns, context, metrics)
        """`GET <endpoint>/threads/{thread_id}/stream`: follow the thread's running turn (see `RejoinEndpoint`)."""
        self.stop = StopEndpoint(self.turns, self.origins, context, metrics)
        """`POST <endpoint>/threads/{thread_id}/stop`: stop the thread's running turn (see `StopEndpoint`)."""
        self.stopped = StoppedItemsEndpoint(server.store, context, metrics)
        """`GET <endpoint>/threads/{thread_id}/stopped`: where stopped turns ended (see `StoppedItemsEndpoint`)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        await call_observed(scope, receive, send, self._handle, self.metrics)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, record: AccessRecord, headers: dict[str, str]
    ) -> None:
        request_id = record.request_id
        arrived = time.perf_counter()
        try:
            if scope["method"] != "POST":
                raise HTTPProblem(405, "method_not_allowed", "use POST", headers={"allow": "POST"})
            # Before anything runs, the context builder included: a cross-site request carries the
            # user's cookies.
            self.origins.check(scope)
            require_json(scope)
            check_content_length(scope, self.max_body_bytes)
            body = RequestBody(scope, receive, self.max_body_bytes)
            request = Request(scope, body.receive)
            # Authentication before the body: an anonymous client cannot make the server hold its bytes.
            context = await build_context(self.context_builder, request)
            parsed = _parse(await body.read())
            record.request_type, record.thread_id = parsed.type, thread_id_of(parsed)
            dispatcher = Dispatcher(self.server, refusal=InvalidRequestError)
            await dispatcher.check_access(parsed, context)
            if is_streaming_req(parsed):
                # Opened here, so a new thread's first turn is held from its creation on.
                admitted = await dispatcher.open_stream(parsed, context)
                record.thread_id = admitted.thread_id
            else:
                # Upload and preview URLs hang below the URL the client reached this endpoint at.
                admitted = await dispatcher.answer(parsed, context, base_url=_endpoint_url(request))
        except Exception as error:
            problem = problem_from(error)
            record.outcome = problem.code
            record.status = problem.status
            record.bytes_sent = await send_problem(send, problem, request_id, headers)
            return
        if isinstance(admitted, NonStreamingResult):
            await send_bytes(send, 200, admitted.json, b"application/json", headers)
            record.status, record.bytes_sent = 200, len(admitted.json)
            return
        sender = StreamSender(
            admitted.frames,
            send,
            receive,
            disconnect_policy=self.disconnect_policy,
            disconnect_grace=self.disconnect_grace,
            request_id=request_id,
            headers=headers,
        )
        try:
            key = self.turns.key(admitted.thread_id, context)
            async with self.turns.turn(admitted.thread_id, context, key, new=admitted.new) as turn:
                turn.on_interrupt(sender.interrupt)
                if turn.running is not None:
                    sender.tap = turn.running.publish
                    sender.joined_within = turn.running.joined_within
                started = time.perf_counter()
                record.outcome = await sender.run()
                if self.metrics is not None:
                    first = sender.first_event_at
                    self.metrics.turn_done(
                        record.outcome,
                        time.perf_counter() - started,
                        None if first is None else first - arrived,
                        sender.frames_sent,
                        sender.bytes_sent,
                    )
        except Exception as error:
            if sender.responded:
                raise
            problem = problem_from(error)
            await admitted.frames.aclose()
            record.outcome = problem.code
            record.status = problem.status
            record.bytes_sent = await send_problem(send, problem, request_id, headers)
            return
        record.status, record.bytes_sent = sender.status, sender.bytes_sent


class RequestBody:
    """The request body, read once within its limit, whether the context builder asks for it or not.

    The context builder gets a `Request` whose `receive` is `RequestBody.receive`: a builder that
    awaits `request.body()` reads it through here, and the endpoint then finds it already read.
    """

    def __init__(self, scope: Scope, receive: Receive, limit: int) -> None:
        self._scope = scope
        self._receive = receive
        self._limit = limit
        self._body: bytes | None = None
        self._delivered = False

    async def read(self) -> bytes:
        """The whole body; 413 past the limit."""
        if self._body is None:
            self._body = await read_body(self._scope, self._receive, self._limit)
        return self._body

    async def receive(self) -> Message:
        """The body as one ASGI message, then the client's own messages (a disconnect)."""
        if self._delivered:
            return await self._receive()
        self._delivered = True
        return {"type": "http.request", "body": await self.read(), "more_body": False}


def _endpoint_url(request: Request) -> str:
    """The URL the client reached the endpoint at, without its query."""
    return str(request.url.replace(query="")).rstrip("/")


def _parse(body: bytes) -> ChatKitReq:
    """The typed request; a body that does not validate is answered 400 here, and only here."""
    try:
        return parse_request(body)
    except ValidationError as error:
        raise invalid_request(error) from None
