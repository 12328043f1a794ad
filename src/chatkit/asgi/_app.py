"""`create_app`: a complete Starlette app around a `ChatKitServer`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chatkit.asgi._capabilities import CapabilitiesEndpoint, describe
from chatkit.asgi._drain import Drain
from chatkit.asgi._endpoint import ChatKitEndpoint
from chatkit.asgi._http import ContextBuilder, HTTPProblem, OriginCheck, problem_body, send_bytes
from chatkit.asgi._metrics import Metrics, metrics_available
from chatkit.asgi._observe import AccessLogMiddleware, access_record
from chatkit.asgi._probes import Probes
from chatkit.asgi._streaming import DisconnectPolicy
from chatkit.asgi._turns import TurnPolicy
from chatkit.asgi._uploads import UploadEndpoints, problem_response
from chatkit.attachments import LocalAttachmentStore
from chatkit.attachments._streams import AttachmentFiles, streaming_files
from chatkit.coordination import Coordination
from chatkit.data import RetentionSweeper
from chatkit.server import ChatKitServer
from chatkit.store import AttachmentStore
from chatkit.stores import PostgresStore, ScopedStore


def create_app(
    server: ChatKitServer[Any],
    *,
    context: ContextBuilder | None = None,
    path: str = "/chatkit",
    attachment_store: AttachmentStore[Any] | None = None,
    cors_origins: Sequence[str] = (),
    max_body_bytes: int = 1_048_576,
    turn_policy: TurnPolicy = "wait",
    turn_wait_timeout: float = 30.0,
    disconnect_policy: DisconnectPolicy = "cancel",
    disconnect_grace: float = 10.0,
    coordination: Coordination | None = None,
    health_path: str | None = "/healthz",
    ready_path: str | None = "/readyz",
    drain: Drain | None = None,
    metrics_path: str | None = "/metrics",
    retention: RetentionSweeper | None = None,
) -> Starlette:
    """A Starlette app serving `server` at `POST {path}`, plus upload and file routes for `attachment_store`.

    `context(request)` builds the request context (sync or async; `request.state.locale` holds the
    preferred `Accept-Language` tag) and may raise `HTTPAuthError`. Without `attachment_store`, a
    `LocalAttachmentStore` or `PostgresAttachmentStore` given to the server is used. Mount the result
    in FastAPI with `app.mount("/", create_app(server))` (after your own routes) or under a prefix.

    A streaming request on a thread that is mid-turn waits up to `turn_wait_timeout` seconds
    (`"wait"`), is refused with 409 (`"reject"`), or stops the running turn, keeping its partial
    answer (`"interrupt"`; a turn running in another process is waited for instead). When the
    client goes away mid-stream the turn is cancelled and its partial answer kept (`"cancel"`),
    it runs to completion and is saved in full (`"finish"`), or it waits `disconnect_grace`
    seconds for the client to come back (`"grace"`, the recommended policy): a client that
    rejoins gets the rest of the answer, otherwise the answer is saved as the client last saw it.

    `GET {path}/threads/{thread_id}/stream?after=N` follows a thread's running turn (a reload, a
    second tab, another process); `coordination` shares running turns between processes, by
    default through PostgreSQL for a `PostgresStore` and in memory otherwise (see
    `chatkit.coordination`). With it, `"interrupt"` reaches a turn running in any process.
    `POST {path}/threads/{thread_id}/stop` stops a thread's running turn at once, in any process,
    whatever the disconnect policy (the playground's stop button), and
    `GET {path}/threads/{thread_id}/stopped` names the items stopped turns ended on (so a reloaded
    page still marks them).

    A browser request (`POST`, `PUT`) sent by a page of another origin is refused with 403 before
    anything runs, unless that origin is in `cors_origins`.

    `GET {path}/capabilities` says what the server supports (attachments and their upload
    strategies, transcription), so a client shows only that.

    `GET {health_path}` is the liveness probe and `GET {ready_path}` the readiness probe (the
    store, the attachment store and the coordination answer; 503 once the app shuts down); None
    turns either off. They run no context builder and are not in the access log.

    `GET {metrics_path}` answers the app's Prometheus metrics when `prometheus-client` is installed
    (the `metrics` extra); None turns it off.

    `retention` (a `chatkit.data.RetentionSweeper`) deletes idle threads in the background while
    the app's lifespan runs; an app mounted in another runs it in that app's lifespan instead.

    `drain` says how the app stops (`chatkit serve` starts it on SIGTERM); at the latest it begins
    when the ASGI lifespan ends, which then lets running turns end, or stops them, before closing.
    """
    path = "/" + path.strip("/")
    metrics = Metrics() if metrics_path is not None and metrics_available() else None
    endpoint = ChatKitEndpoint(
        server,
        context=context,
        max_body_bytes=max_body_bytes,
        turn_policy=turn_policy,
        turn_wait_timeout=turn_wait_timeout,
        disconnect_policy=disconnect_policy,
        disconnect_grace=disconnect_grace,
        allowed_origins=cors_origins,
        coordination=coordination,
        metrics=metrics,
    )
    routes: list[BaseRoute] = [
        Route(path, endpoint, methods=["POST"]),
        Route(path + "/threads/{thread_id}/stream", endpoint.rejoin, methods=["GET"]),
        Route(path + "/threads/{thread_id}/stop", endpoint.stop, methods=["POST"]),
        Route(path + "/threads/{thread_id}/stopped", endpoint.stopped, methods=["GET"]),
    ]
    if attachment_store is None and isinstance(server.attachment_store, (LocalAttachmentStore, AttachmentFiles)):
        attachment_store = server.attachment_store
    if attachment_store is not None:
        uploads = UploadEndpoints(streaming_files(attachment_store), server.store, context, metrics)
        routes.extend(uploads.routes(path))
    capabilities = describe(server, direct_upload=attachment_store is not None)
    routes.append(Route(path + "/capabilities", CapabilitiesEndpoint(capabilities), methods=["GET"]))
    middleware = [Middleware(AccessLogMiddleware, metrics=metrics)]
    direct: ASGIApp = endpoint
    if cors_origins:
        origins = list(cors_origins)
        cors_options: dict[str, Any] = {
            "allow_origins": origins,
            "allow_methods": ["GET", "HEAD", "POST", "PUT", "OPTIONS"],
            "allow_headers": ["*"],
            # A wildcard origin with cookies would let any site act as the user.
            "allow_credentials": "*" not in origins,
            "expose_headers": ["X-Request-ID"],
            "max_age": 600,
        }
        middleware.append(Middleware(CORSMiddleware, **cors_options))
        direct = CORSMiddleware(endpoint, **cors_options)
    middleware.append(Middleware(_OriginGuard, origins=OriginCheck(cors_origins)))
    drain = drain if drain is not None else Drain()
    drain.watch(endpoint.turns)
    probes = Probes(
        {
            "store": server.store,
            "attachment_store": attachment_store or server.attachment_store,
            "coordination": endpoint.coordination,
        },
        drain,
    )
    probe_routes: dict[str | None, ASGIApp] = {health_path: probes.live, ready_path: probes.ready}
    if metrics is not None:
        metrics.watch(lambda: endpoint.turns.running, lambda: drain.draining)
        if isinstance(server.store, ScopedStore):
            server.store.observe_operations(metrics.store_operation)
        if isinstance(server.store, PostgresStore):
            metrics.watch_database(server.store.database.connections)
        probe_routes[metrics_path] = metrics.serve
    return _ChatKitApp(
        path,
        direct,
        drain=drain,
        probes={"/" + route.strip("/"): answer for route, answer in probe_routes.items() if route is not None},
        routes=routes,
        middleware=middleware,
        lifespan=_closing(endpoint.coordination, drain, retention),
        exception_handlers={HTTPException: _route_problem},
    )


_ROUTE_CODES = {404: "not_found", 405: "method_not_allowed"}


def _route_problem(request: Request, error: Exception) -> Response:
    """Starlette's own refusals (no such route, another method) in the JSON shape of every other error."""
    assert isinstance(error, HTTPException)
    code = _ROUTE_CODES.get(error.status_code, "invalid_request")
    problem = HTTPProblem(error.status_code, code, error.detail, headers=dict(error.headers or {}))
    return problem_response(request, problem)


def _closing(
    coordination: Coordination, drain: Drain, retention: RetentionSweeper | None
) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    """A lifespan that runs the retention sweep, and at shutdown drains the app, then releases the
    coordination's connections."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            async with retention if retention is not None else nullcontext():
                yield
        finally:
            await drain.settle()
            await coordination.aclose()

    return lifespan


class _ChatKitApp(Starlette):
    """A Starlette app that hands `POST {path}` straight to the endpoint.

    The endpoint answers every error itself and logs on its own, so the generic middleware stack
    would only add per-frame overhead to every streamed event.
    """

    def __init__(
        self, path: str, direct: ASGIApp, *, drain: Drain, probes: Mapping[str, ASGIApp], **options: Any
    ) -> None:
        super().__init__(**options)
        self._path = path
        self._direct = direct
        self._drain = drain
        self._probes = probes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] == "http":
            if self._drain.draining:
                send = _closing_connection(send)
            route = _route_path(scope)
            if scope["method"] == "POST" and route == self._path:
                scope["app"] = self
                await self._direct(scope, receive, send)
                return
            # Probes skip the middleware: no access log line every few seconds, no CORS, no context.
            probe = self._probes.get(route) if scope["method"] in ("GET", "HEAD") else None
            if probe is not None:
                await probe(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _closing_connection(send: Send) -> Send:
    """`send`, asking the server to close the connection after the answer (a draining process).

    A proxy then holds no idle connection to the process when its listener closes: one it reused at
    that instant would fail a request that was already sent, which it may not retry.
    """

    async def send_and_close(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), (b"connection", b"close")]}
        await send(message)

    return send_and_close


class _OriginGuard:
    """Refuses a cross-site write (an upload) with 403 before the route, its context builder or its body run.

    The ChatKit endpoint itself checks the origin on its own, as it is also used without this app.
    """

    def __init__(self, app: ASGIApp, origins: OriginCheck) -> None:
        self.app = app
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] == "http" and scope["method"] not in _SAFE_METHODS:
            try:
                self.origins.check(scope)
            except HTTPProblem as problem:
                record = access_record(scope)
                if record is not None:
                    record.outcome = problem.code
                body = problem_body(problem, record.request_id if record is not None else None)
                await send_bytes(send, problem.status, body, b"application/json")
                return
        await self.app(scope, receive, send)


# Reads, and the CORS preflight (answered by the CORS middleware).
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    return path[len(root_path) :] if root_path and path.startswith(root_path) else path
