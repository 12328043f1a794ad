"""`POST /chatkit`: hands the request body to a `ChatKitServer` and answers JSON or an event stream."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from chatkit.asgi._http import (
    ContextBuilder,
    HTTPProblem,
    OriginCheck,
    build_context,
    problem_from,
    read_body,
    require_json,
    send_bytes,
    send_problem,
)
from chatkit.asgi._observe import AccessRecord, call_observed
from chatkit.asgi._streaming import DisconnectPolicy, StreamSender
from chatkit.asgi._turns import TurnGate, TurnPolicy
from chatkit.attachments import request_base_url
from chatkit.coordination import Coordination, TurnKey, coordination_for
from chatkit.server import ChatKitServer, NonStreamingResult
from chatkit.stores import ScopedStore
from chatkit.types import AttachmentsDeleteReq, ItemsFeedbackReq, ThreadsDeleteReq

_STREAMING_TYPES = frozenset(
    {
        "threads.create",
        "threads.add_user_message",
        "threads.add_client_tool_output",
        "threads.add_structured_input",
        "threads.retry_after_item",
        "threads.custom_action",
    }
)


class ChatKitEndpoint:
    """The ChatKit endpoint as an ASGI app, for a `POST` route in an existing Starlette or FastAPI app.

    `create_app` builds a complete app around it (uploads, CORS, access log); use this class
    directly to add the one route to a router of your own, e.g.
    `app.add_route("/chatkit", ChatKitEndpoint(server), methods=["POST"])`. A browser request from
    a page of another origin is refused (403) unless that origin is in `allowed_origins` (give it
    the origins your CORS configuration allows).

    `endpoint.rejoin` serves the rejoin route: add it too, as
    `app.add_route("/chatkit/threads/{thread_id}/stream", endpoint.rejoin, methods=["GET"])`, and
    call `await endpoint.coordination.aclose()` when the app shuts down.
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
        allowed_origins: Sequence[str] = (),
        coordination: Coordination | None = None,
    ) -> None:
        if disconnect_policy not in ("cancel", "finish"):
            raise ValueError(f"disconnect_policy must be 'cancel' or 'finish', not {disconnect_policy!r}")
        self.server = server
        self.context_builder = context
        self.max_body_bytes = max_body_bytes
        self.disconnect_policy: DisconnectPolicy = disconnect_policy
        self.coordination = coordination if coordination is not None else coordination_for(server.store)
        self.turns = TurnGate(server.store, turn_policy, turn_wait_timeout, self.coordination)
        self.origins = OriginCheck(allowed_origins)
        from chatkit.asgi._rejoin import RejoinEndpoint

        self.rejoin = RejoinEndpoint(self)
        """`GET <endpoint>/threads/{thread_id}/stream`: follow the thread's running turn (see `RejoinEndpoint`)."""

    def turn_key(self, thread_id: str, context: Any) -> TurnKey:
        """The name of the thread's turn for the coordination, in the caller's scope as the store sees it."""
        store = self.server.store
        scope = store._scope(context) if isinstance(store, ScopedStore) else ""  # pyright: ignore[reportPrivateUsage]
        return TurnKey.of(scope, thread_id)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        await call_observed(scope, receive, send, self._handle)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, record: AccessRecord, headers: dict[str, str]
    ) -> None:
        request_id = record.request_id
        first: bytes | None = None
        try:
            if scope["method"] != "POST":
                raise HTTPProblem(405, "method_not_allowed", "use POST", headers={"allow": "POST"})
            # Before anything runs, the context builder included: a cross-site request carries the
            # user's cookies.
            self.origins.check(scope)
            require_json(scope)
            body = await read_body(scope, receive, self.max_body_bytes)
            request = Request(scope, receive)
            context = await build_context(self.context_builder, request)
            request_type, params = _peek(body)
            thread_id = _string(params, "thread_id")
            record.request_type, record.thread_id = request_type, thread_id
            if request_type == "attachments.create":
                # Upload and preview URLs hang below the URL the client reached this endpoint at.
                request_base_url.set(str(request.url.replace(query="")).rstrip("/"))
            if request_type == "threads.create":
                await _require_attachments(self.server, params, context)
            else:
                await self._require_ownership(request_type, body, context)
            result = await self.server.process(body, context)
            if not isinstance(result, NonStreamingResult) and request_type == "threads.create":
                # The new thread's id is in the first frame; its first turn is held from there on.
                first = await _first_frame(result.json_events)
                thread_id = record.thread_id = _created_thread_id(first)
        except Exception as error:
            problem = problem_from(error)
            record.outcome = problem.code
            record.status = problem.status
            record.bytes_sent = await send_problem(send, problem, request_id, headers)
            return
        if isinstance(result, NonStreamingResult):
            await send_bytes(send, 200, result.json, b"application/json", headers)
            record.status, record.bytes_sent = 200, len(result.json)
            return
        sender = StreamSender(
            result.json_events,
            send,
            receive,
            disconnect_policy=self.disconnect_policy,
            request_id=request_id,
            headers=headers,
            first=first,
        )
        if thread_id is None or request_type not in _STREAMING_TYPES:
            record.outcome = await sender.run()
        else:
            try:
                key = self.turn_key(thread_id, context)
                async with self.turns.turn(thread_id, context, key, new=first is not None) as turn:
                    turn.on_interrupt(sender.interrupt)
                    sender.tap = turn.running.publish if turn.running is not None else None
                    record.outcome = await sender.run()
            except Exception as error:
                if sender.responded:
                    raise
                problem = problem_from(error)
                await result.json_events.aclose()
                record.outcome = problem.code
                record.status = problem.status
                record.bytes_sent = await send_problem(send, problem, request_id, headers)
                return
        record.status, record.bytes_sent = sender.status, sender.bytes_sent

    async def _require_ownership(self, request_type: str | None, body: bytes, context: Any) -> None:
        """Refuse (404) a request naming an id the caller does not own, before `process()` touches it.

        `process()` calls only the store methods the reference calls: deleting or rating goes
        straight to `delete_thread`, `add_feedback` or `delete_attachment`, and a store that does
        not check the scope on those would act on another user's rows.
        """
        store = self.server.store
        try:
            if request_type == "threads.delete":
                await store.load_thread(ThreadsDeleteReq.model_validate_json(body).params.thread_id, context)
            elif request_type == "items.feedback":
                await store.load_thread(ItemsFeedbackReq.model_validate_json(body).params.thread_id, context)
            elif request_type == "attachments.delete":
                attachment_id = AttachmentsDeleteReq.model_validate_json(body).params.attachment_id
                await store.load_attachment(attachment_id, context)
        except ValidationError:
            return  # process() refuses it with its own precise error
        except NotImplementedError:
            # A store that can delete but not load works as it does with the reference: the
            # ownership check is then its own.
            return


def _peek(body: bytes) -> tuple[str | None, dict[str, Any]]:
    """The request type and parameters, read cheaply; validation proper is the server's job."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise HTTPProblem(400, "invalid_request", "the request body is not valid JSON") from None
    if not isinstance(data, dict):
        return None, {}
    request_type = data.get("type")
    params = data.get("params")
    return request_type if isinstance(request_type, str) else None, params if isinstance(params, dict) else {}


def _string(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    return value if isinstance(value, str) else None


async def _first_frame(frames: AsyncGenerator[bytes, None]) -> bytes | None:
    try:
        return await frames.__anext__()
    except StopAsyncIteration:
        return None


def _created_thread_id(frame: bytes | None) -> str | None:
    """The id of the thread a `thread.created` frame announces."""
    if frame is None or not frame.startswith(b"data: "):
        return None
    try:
        event = json.loads(frame[len(b"data: ") :])
        thread_id = event["thread"]["id"] if event.get("type") == "thread.created" else None
    except (ValueError, KeyError, TypeError):
        return None
    return thread_id if isinstance(thread_id, str) else None


async def _require_attachments(server: ChatKitServer[Any], params: dict[str, Any], context: Any) -> None:
    """Refuse a `threads.create` naming an attachment the caller does not have, before anything is written.

    `process()` keeps the reference's order (the thread is created and announced, then the
    attachments are loaded), which over HTTP would be a 200 stream cut short and an empty thread.
    """
    user_input = params.get("input")
    attachment_ids = user_input.get("attachments") if isinstance(user_input, dict) else None
    if isinstance(attachment_ids, list):
        for attachment_id in attachment_ids:
            if isinstance(attachment_id, str):
                await server.store.load_attachment(attachment_id, context)
