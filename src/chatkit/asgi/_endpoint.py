"""`POST /chatkit`: hands the request body to a `ChatKitServer` and answers JSON or an event stream."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from chatkit.asgi._http import (
    ContextBuilder,
    HTTPProblem,
    build_context,
    problem_from,
    read_body,
    send_bytes,
    send_problem,
)
from chatkit.asgi._observe import AccessRecord, access_record, observed
from chatkit.asgi._streaming import DisconnectPolicy, StreamSender
from chatkit.asgi._turns import TurnGate, TurnPolicy
from chatkit.attachments import request_base_url
from chatkit.server import ChatKitServer, NonStreamingResult

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
    `app.add_route("/chatkit", ChatKitEndpoint(server), methods=["POST"])`.
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
    ) -> None:
        if disconnect_policy not in ("cancel", "finish"):
            raise ValueError(f"disconnect_policy must be 'cancel' or 'finish', not {disconnect_policy!r}")
        self.server = server
        self.context_builder = context
        self.max_body_bytes = max_body_bytes
        self.disconnect_policy: DisconnectPolicy = disconnect_policy
        self.turns = TurnGate(server.store, turn_policy, turn_wait_timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        record = access_record(scope)
        if record is not None:
            await self._handle(scope, receive, send, record, {})
            return
        # Used on its own, the endpoint logs, traces and numbers its requests itself, without the
        # per-frame cost of wrapping `send`.
        with observed(scope) as record:
            await self._handle(scope, receive, send, record, {"x-request-id": record.request_id})

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, record: AccessRecord, headers: dict[str, str]
    ) -> None:
        request_id = record.request_id
        try:
            if scope["method"] != "POST":
                raise HTTPProblem(405, "method_not_allowed", "use POST", headers={"allow": "POST"})
            body = await read_body(scope, receive, self.max_body_bytes)
            request = Request(scope, receive)
            context = await build_context(self.context_builder, request)
            request_type, thread_id = _peek(body)
            record.request_type, record.thread_id = request_type, thread_id
            if request_type == "attachments.create":
                # Upload and preview URLs hang below the URL the client reached this endpoint at.
                request_base_url.set(str(request.url.replace(query="")).rstrip("/"))
            elif request_type == "threads.create":
                await _require_attachments(self.server, body, context)
            result = await self.server.process(body, context)
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
        )
        if thread_id is None or request_type == "threads.create":
            record.outcome = await sender.run()
        else:
            try:
                async with self.turns.turn(thread_id, context) as turn:
                    turn.on_interrupt(sender.interrupt)
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


def _peek(body: bytes) -> tuple[str | None, str | None]:
    """The request type and thread id, read cheaply; validation proper is the server's job."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise HTTPProblem(400, "invalid_request", "the request body is not valid JSON") from None
    if not isinstance(data, dict):
        return None, None
    request_type = data.get("type")
    if not isinstance(request_type, str):
        return None, None
    params = data.get("params")
    thread_id = params.get("thread_id") if isinstance(params, dict) else None
    streaming = request_type in _STREAMING_TYPES
    return request_type, thread_id if isinstance(thread_id, str) and streaming else None


async def _require_attachments(server: ChatKitServer[Any], body: bytes, context: Any) -> None:
    """Refuse a `threads.create` naming an attachment the caller does not have, before anything is written.

    `process()` keeps the reference's order (the thread is created and announced, then the
    attachments are loaded), which over HTTP would be a 200 stream cut short and an empty thread.
    """
    try:
        attachment_ids = json.loads(body)["params"]["input"]["attachments"]
    except (ValueError, KeyError, TypeError):
        return  # malformed: process() refuses it with a precise validation error
    if isinstance(attachment_ids, list):
        for attachment_id in attachment_ids:
            if isinstance(attachment_id, str):
                await server.store.load_attachment(attachment_id, context)
