"""`create_app`: a complete Starlette app around a `ChatKitServer`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from chatkit.asgi._endpoint import ChatKitEndpoint
from chatkit.asgi._http import ContextBuilder
from chatkit.asgi._observe import AccessLogMiddleware
from chatkit.asgi._streaming import DisconnectPolicy
from chatkit.asgi._turns import TurnPolicy
from chatkit.asgi._uploads import UploadEndpoints
from chatkit.attachments import LocalAttachmentStore
from chatkit.server import ChatKitServer


def create_app(
    server: ChatKitServer[Any],
    *,
    context: ContextBuilder | None = None,
    path: str = "/chatkit",
    attachment_store: LocalAttachmentStore[Any] | None = None,
    cors_origins: Sequence[str] = (),
    max_body_bytes: int = 1_048_576,
    turn_policy: TurnPolicy = "wait",
    turn_wait_timeout: float = 30.0,
    disconnect_policy: DisconnectPolicy = "cancel",
) -> Starlette:
    """A Starlette app serving `server` at `POST {path}`, plus upload and file routes for `attachment_store`.

    `context(request)` builds the request context (sync or async; `request.state.locale` holds the
    preferred `Accept-Language` tag) and may raise `HTTPAuthError`. Without `attachment_store`, a
    `LocalAttachmentStore` given to the server is used. Mount the result in FastAPI with
    `app.mount("/", create_app(server))` (after your own routes) or under a prefix.

    A streaming request on a thread that is mid-turn waits up to `turn_wait_timeout` seconds
    (`"wait"`), is refused with 409 (`"reject"`), or stops the running turn, keeping its partial
    answer (`"interrupt"`; a turn running in another process is waited for instead). When the
    client goes away mid-stream the turn is cancelled and its partial answer kept (`"cancel"`),
    or it runs to completion and is saved in full (`"finish"`).
    """
    path = "/" + path.strip("/")
    endpoint = ChatKitEndpoint(
        server,
        context=context,
        max_body_bytes=max_body_bytes,
        turn_policy=turn_policy,
        turn_wait_timeout=turn_wait_timeout,
        disconnect_policy=disconnect_policy,
    )
    routes: list[BaseRoute] = [Route(path, endpoint, methods=["POST"])]
    if attachment_store is None and isinstance(server.attachment_store, LocalAttachmentStore):
        attachment_store = server.attachment_store
    if attachment_store is not None:
        routes.extend(UploadEndpoints(attachment_store, server.store, context).routes(path))
    middleware = [Middleware(AccessLogMiddleware)]
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
    return _ChatKitApp(path, direct, routes=routes, middleware=middleware)


class _ChatKitApp(Starlette):
    """A Starlette app that hands `POST {path}` straight to the endpoint.

    The endpoint answers every error itself and logs on its own, so the generic middleware stack
    would only add per-frame overhead to every streamed event.
    """

    def __init__(self, path: str, direct: ASGIApp, **options: Any) -> None:
        super().__init__(**options)
        self._path = path
        self._direct = direct

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        if scope["type"] == "http" and scope["method"] == "POST" and _route_path(scope) == self._path:
            scope["app"] = self
            await self._direct(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    return path[len(root_path) :] if root_path and path.startswith(root_path) else path
