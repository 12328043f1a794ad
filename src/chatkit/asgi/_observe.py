"""Request ids, one structured access-log record per request, and OpenTelemetry spans if available."""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

if TYPE_CHECKING:
    from chatkit.asgi._metrics import Metrics

try:
    from opentelemetry import trace as otel_trace
except ImportError:  # pragma: no cover - exercised only without opentelemetry-api
    otel_trace = None

access_logger = logging.getLogger("chatkit.access")
_tracer: Any = otel_trace.get_tracer("chatkit.asgi") if otel_trace is not None else None

_SCOPE_KEY = "chatkit.access"
_INCOMING_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
# Longer values are cut: a request type or path is never legitimately this long.
_MAX_FIELD_CHARS = 256


class AccessRecord:
    """What the access log says about one request; endpoints fill in the ChatKit details."""

    __slots__ = ("bytes_sent", "outcome", "request_id", "request_type", "status", "thread_id")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.request_type: str | None = None
        self.thread_id: str | None = None
        self.outcome: str | None = None
        self.status: int | None = None
        self.bytes_sent = 0


def access_record(scope: Scope) -> AccessRecord | None:
    """The access record of the current request, when `AccessLogMiddleware` is in front."""
    return scope.get(_SCOPE_KEY)


ObservedHandler = Callable[[Scope, Receive, Send, AccessRecord, dict[str, str]], Awaitable[None]]
"""A route's handler, given the request's access record and the headers every answer carries."""


async def call_observed(
    scope: Scope, receive: Receive, send: Send, handle: ObservedHandler, metrics: Metrics | None = None
) -> None:
    """Run `handle` with the request's access record: the middleware's, or one of its own (counted in `metrics`)."""
    record = access_record(scope)
    if record is not None:
        await handle(scope, receive, send, record, {})
        return
    # Used on its own, a route logs, traces and numbers its requests itself, without the
    # per-frame cost of wrapping `send`.
    with observed(scope, metrics) as record:
        await handle(scope, receive, send, record, {"x-request-id": record.request_id})


@contextmanager
def observed(scope: Scope, metrics: Metrics | None = None) -> Iterator[AccessRecord]:
    """Give the request an id and a record, trace it, and log (and count in `metrics`) the record at the end."""
    record = AccessRecord(_request_id(scope))
    scope[_SCOPE_KEY] = record
    started = time.perf_counter()
    if _tracer is None:
        try:
            yield record
        finally:
            _finish(scope, record, started, metrics)
        return
    kind = otel_trace.SpanKind.SERVER if otel_trace is not None else None
    with _tracer.start_as_current_span(f"{scope['method']} {scope['path']}", kind=kind) as span:
        try:
            yield record
        finally:
            _finish(scope, record, started, metrics)
            _annotate(span, scope, record)


def _finish(scope: Scope, record: AccessRecord, started: float, metrics: Metrics | None) -> None:
    if metrics is not None:
        metrics.request_done(record, time.perf_counter() - started)
    _log(scope, record, started)


class AccessLogMiddleware:
    """Gives each request an id (`X-Request-ID`, kept from the client if sane) and logs it once done.

    Records go to the `chatkit.access` logger with the fields as attributes (`request_id`,
    `http_method`, `http_path`, `http_status`, `duration_ms`, `bytes_sent`, `chatkit_request_type`,
    `chatkit_thread_id`, `chatkit_outcome`), ready for a JSON formatter. With `opentelemetry-api`
    installed, each request is also a server span.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics | None = None) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with observed(scope, self.metrics) as record:
            header = (b"x-request-id", record.request_id.encode())

            async def send_and_note(message: Message) -> None:
                if message["type"] == "http.response.start":
                    record.status = message["status"]
                    message = {**message, "headers": [*message.get("headers", ()), header]}
                else:
                    record.bytes_sent += len(message.get("body", b""))
                await send(message)

            await self.app(scope, receive, send_and_note)


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id" and _INCOMING_ID.fullmatch(value):
            return value.decode()
    return secrets.token_hex(8)


def _log(scope: Scope, record: AccessRecord, started: float) -> None:
    status = record.status or 500
    level = logging.ERROR if status >= 500 else logging.INFO
    if not access_logger.isEnabledFor(level):
        return
    duration_ms = round((time.perf_counter() - started) * 1000, 2)
    method, path = loggable(scope["method"]), loggable(scope["path"])
    request_type, thread_id, outcome = loggable(record.request_type), loggable(record.thread_id), record.outcome
    detail = " ".join(part for part in (request_type, outcome) if part)
    access_logger.log(
        level,
        "%s %s %s %d %.1fms",
        method,
        path,
        detail or "-",
        status,
        duration_ms,
        extra={
            "request_id": record.request_id,
            "http_method": method,
            "http_path": path,
            "http_status": status,
            "duration_ms": duration_ms,
            "bytes_sent": record.bytes_sent,
            "chatkit_request_type": request_type,
            "chatkit_thread_id": thread_id,
            "chatkit_outcome": outcome,
        },
    )


def loggable(value: str | None) -> str | None:
    """`value` safe for a one-line log record: control and other unprintable characters escaped, length capped.

    The request type, thread id and path come from the client; a newline in them would otherwise
    forge a record under a plain-text formatter.
    """
    if value is None:
        return None
    if len(value) > _MAX_FIELD_CHARS:
        value = value[:_MAX_FIELD_CHARS] + "..."
    if value.isprintable():
        return value
    return "".join(char if char.isprintable() else _escape(char) for char in value)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def _annotate(span: Any, scope: Scope, record: AccessRecord) -> None:
    if record.request_type:
        span.update_name(f"chatkit {record.request_type}")
    attributes = {
        "http.request.method": scope["method"],
        "url.path": scope["path"],
        "http.response.status_code": record.status or 500,
        "chatkit.request_id": record.request_id,
        "chatkit.request_type": record.request_type,
        "chatkit.thread_id": record.thread_id,
        "chatkit.outcome": record.outcome,
    }
    span.set_attributes({key: value for key, value in attributes.items() if value is not None})
    if (record.status or 500) >= 500 and otel_trace is not None:
        span.set_status(otel_trace.Status(otel_trace.StatusCode.ERROR))
