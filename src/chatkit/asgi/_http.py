"""HTTP plumbing shared by the endpoints: error answers, bounded body reads, the context hook."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from chatkit.asgi._observe import access_record
from chatkit.errors import ChatKitError
from chatkit.logger import logger

ContextBuilder = Callable[[Request], Any]
"""Builds the request context from the HTTP request; may be async and may raise `HTTPAuthError`."""


class HTTPAuthError(ChatKitError):
    """Raised by a context builder to refuse a request: 401 (who are you?) or 403 (not allowed)."""

    def __init__(self, status: int = 401, message: str = "unauthorized", *, headers: Mapping[str, str] | None = None):
        super().__init__(message)
        self.status = self.http_status = status
        self.code = self.http_code = "forbidden" if status == 403 else "unauthorized"
        self.message = message
        self.headers = dict(headers or {})


class HTTPProblem(ChatKitError):
    """An answer other than success, decided before the response started."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = self.http_status = status
        self.code = self.http_code = code
        self.message = message
        self.details = details
        self.headers = dict(headers or {})


def invalid_request(error: ValidationError) -> HTTPProblem:
    """The 400 answer for a request body that does not validate."""
    details = error.errors(include_url=False, include_context=False, include_input=False)
    return HTTPProblem(400, "invalid_request", _summarize(error), details=details)


RETRY_AFTER = "2"
"""Seconds a 503 asks the client to wait before sending the request again."""


def problem_from(error: BaseException) -> HTTPProblem:
    """The HTTP answer for an exception raised while handling a request.

    Only chatkit's own errors (`chatkit.errors.ChatKitError`) choose their status; anything else
    is a 500 that is logged and tells the client nothing of its text.
    """
    if isinstance(error, HTTPProblem):
        return error
    if isinstance(error, HTTPAuthError):
        return HTTPProblem(error.status, error.code, error.message, headers=error.headers)
    if isinstance(error, ChatKitError) and error.http_status != 500:
        # Unavailable is temporary by definition: say when to come back, as load balancers and clients read it.
        headers = {"retry-after": RETRY_AFTER} if error.http_status == 503 else None
        return HTTPProblem(error.http_status, error.http_code, error.public_message(), headers=headers)
    if isinstance(error, NotImplementedError):
        # A store or hook of the integrator's that does not offer the request: not a failure.
        return HTTPProblem(501, "not_implemented", "the server does not support this request")
    logger.error("request failed", exc_info=error)
    return HTTPProblem(500, "internal_error", "internal server error")


def _summarize(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    where = ".".join(str(part) for part in first["loc"])
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}" if where else f"{first['msg']}{more}"


def problem_body(problem: HTTPProblem, request_id: str | None) -> bytes:
    """The JSON document describing a problem to the client."""
    error: dict[str, Any] = {"code": problem.code, "message": problem.message}
    if problem.details is not None:
        error["details"] = problem.details
    if request_id is not None:
        error["request_id"] = request_id
    return json.dumps({"error": error}, default=str).encode()


async def send_bytes(
    send: Send, status: int, body: bytes, content_type: bytes, headers: Mapping[str, str] | None = None
) -> None:
    """Send a complete response in two messages."""
    raw = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if headers:
        raw.extend((name.lower().encode(), value.encode()) for name, value in headers.items())
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def send_problem(
    send: Send, problem: HTTPProblem, request_id: str | None, headers: Mapping[str, str] | None = None
) -> int:
    """Answer with a problem as JSON; the number of body bytes sent."""
    body = problem_body(problem, request_id)
    await send_bytes(send, problem.status, body, b"application/json", {**problem.headers, **(headers or {})})
    return len(body)


class BodyTooLarge(HTTPProblem):
    """The request body exceeds the configured limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, "payload_too_large", f"the request body exceeds {limit} bytes")


def check_content_length(scope: Scope, limit: int) -> None:
    """Refuse early when the declared length is over `limit`."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                raise HTTPProblem(400, "invalid_request", "malformed Content-Length") from None
            if declared > limit:
                raise BodyTooLarge(limit)


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body, refusing (413) more than `limit` bytes."""
    check_content_length(scope, limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise HTTPProblem(400, "client_disconnected", "the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def limited_receive(receive: Receive, limit: int) -> Receive:
    """A `receive` that raises `BodyTooLarge` once more than `limit` body bytes went through."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(limit)
        return message

    return wrapped


async def build_context(builder: ContextBuilder | None, request: Request) -> Any:
    """Run the integrator's context builder (sync or async); None without one.

    The builder finds the preferred `Accept-Language` tag in `request.state.locale` and the
    request id in `request.state.request_id`.
    """
    request.state.locale = preferred_locale(_accept_language(request.scope))
    record = access_record(request.scope)
    request.state.request_id = record.request_id if record is not None else None
    if builder is None:
        return None
    context = builder(request)
    if inspect.isawaitable(context):
        context = await context
    return context


# Real headers name a handful of languages in well under this; the rest of a longer one is ignored,
# so an unauthenticated client cannot make the event loop parse megabytes.
_MAX_ACCEPT_LANGUAGE_CHARS = 1024


def _accept_language(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"accept-language":
            if len(value) <= _MAX_ACCEPT_LANGUAGE_CHARS:
                return value.decode("latin-1")
            # Whole entries only: the one cut in two is dropped.
            return value[:_MAX_ACCEPT_LANGUAGE_CHARS].rpartition(b",")[0].decode("latin-1")
    return None


def preferred_locale(accept_language: str | None) -> str | None:
    """The language tag the client prefers most in an `Accept-Language` header (None if absent)."""
    if not accept_language:
        return None
    best: tuple[float, str] | None = None
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        weight = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                weight = float(params[2:])
            except ValueError:
                continue
        # Earlier entries win ties, as the header lists preferences in order.
        key = (weight - position * 1e-6, tag)
        if weight > 0 and (best is None or key[0] > best[0]):
            best = key
    return best[1] if best else None


class CrossSiteRequest(HTTPProblem):
    """A browser request sent by a page of another origin that is not allowed."""

    def __init__(self, origin: str) -> None:
        super().__init__(403, "cross_site_request", f"requests from origin {origin!r} are not allowed")


class OriginCheck:
    """Refuses requests a browser sends on behalf of a page of another site (CSRF).

    A request without `Origin` (not a browser, or a same-origin `GET`) passes. One with `Origin`
    passes when that origin is the request's own — same scheme as the request (`scope["scheme"]`,
    which the ASGI server sets from `X-Forwarded-Proto` only for proxies it trusts, e.g. uvicorn's
    `--forwarded-allow-ips`), and host and port matching `Host` or a proxy's `X-Forwarded-Host` —
    or is listed in `allowed` (`"*"` allows any).
    """

    def __init__(self, allowed: Iterable[str] = ()) -> None:
        allowed = [origin.strip().rstrip("/").lower() for origin in allowed]
        self.any = "*" in allowed
        self.allowed = frozenset(allowed)

    def check(self, scope: Scope) -> None:
        """Raise `CrossSiteRequest` (403) unless the request may go on."""
        origin: bytes | None = None
        hosts: list[bytes] = []
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value
            elif name == b"host":
                hosts.append(value)
            elif name == b"x-forwarded-host":
                # A proxy may append its own; a browser cannot set this header on a cross-site
                # request without a CORS preflight, which only allowed origins pass.
                hosts.extend(part.strip() for part in value.split(b","))
        if origin is None or self.any:
            return
        text = origin.decode("latin-1").strip().lower()
        if text in self.allowed or _same_origin(text, scope.get("scheme", "http"), hosts):
            return
        raise CrossSiteRequest(loggable_origin(text))


_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def _same_origin(origin: str, request_scheme: str, hosts: list[bytes]) -> bool:
    scheme, separator, authority = origin.partition("://")
    if not separator or not authority or "/" in authority:
        return False  # "null" (sandboxed frames, files) or malformed: never the request's own
    if scheme != request_scheme:
        # https://host is another origin than http://host: a page over plain HTTP (injected on
        # the network) must not pass as the TLS site, nor the reverse.
        return False
    default_port = _DEFAULT_PORTS.get(scheme, "")
    authority = authority.removesuffix(default_port) if default_port else authority
    for host in hosts:
        candidate = host.decode("latin-1").strip().lower()
        if default_port:
            candidate = candidate.removesuffix(default_port)
        if candidate == authority:
            return True
    return False


def loggable_origin(origin: str) -> str:
    """An origin cut to a sane length for an error message."""
    return origin if len(origin) <= 200 else origin[:200] + "..."


def require_json(scope: Scope) -> None:
    """Refuse (415) a body announced as anything but JSON, such as what an HTML form can send across sites.

    ChatKit clients post `application/json`; a request without a content type passes too. The
    media type is compared whole (`application/jsonp` or a list of types is not JSON), parameters
    such as `charset` aside.
    """
    values = [value for name, value in scope["headers"] if name == b"content-type"]
    if not values:
        return
    if len(values) > 1 or values[0].partition(b";")[0].strip().lower() != b"application/json":
        raise HTTPProblem(415, "unsupported_media_type", "send ChatKit requests as application/json")
