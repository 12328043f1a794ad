"""The playground: a static web client for any ChatKit server, shipped with the package.

It is plain HTML, CSS and JavaScript modules (no build step) that speak the ChatKit protocol
directly. `playground_routes()` serves it at `/` with its files under `/playground/`.

The page takes a subset of the web component's `ChatKitOptions`, under the same names:
`theme` (`"light"`, `"dark"` or `{"colorScheme": ...}`), `startScreen` (`greeting`, `prompts`),
`composer` (`placeholder`, `attachments.enabled`), `threadItemActions` (`feedback`, `retry`),
`disclaimer` (`text`) and `thread` (`autoScroll`). Unlike the component, the playground shows
feedback and retry buttons and follows a streaming answer unless told otherwise: it is a tool for
trying a server out. In the page itself, `?endpoint=URL` points it at another server and the
settings panel adds request headers (such as `X-User-Id` or `Authorization`), kept in the browser.

Opening a thread whose answer still runs (a reload, a second tab, a `hashchange`) follows that
answer through the rejoin route. When the server finishes answers its client left
(`disconnect_policy="finish"`), the page's stop button says it only stops following.
"""

from __future__ import annotations

import html
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.routing import BaseRoute

    from chatkit.asgi import ContextBuilder
    from chatkit.attachments import LocalAttachmentStore
    from chatkit.data import RetentionSweeper
    from chatkit.server import ChatKitServer

PLAYGROUND_DIR = Path(__file__).resolve().parent / "static"
"""The folder holding the playground's files (and nothing else, as it is served whole)."""


@runtime_checkable
class _Lifecycle(Protocol):
    async def open(self) -> None: ...

    async def aclose(self) -> None: ...


_ENDPOINT_META = '<meta name="chatkit-endpoint" content="/chatkit">'
_POLICY_META = '<meta name="chatkit-disconnect-policy" content="cancel">'
_OPTIONS_SCRIPT = '<script id="chatkit-options" type="application/json">{}</script>'


def playground_routes(
    endpoint: str = "/chatkit", options: Mapping[str, Any] | None = None, *, disconnect_policy: str = "cancel"
) -> list[BaseRoute]:
    """Starlette routes serving the playground page at `/`, talking to the ChatKit `endpoint`.

    `options` are `ChatKitOptions` of the web component the page follows (see the module docstring);
    `disconnect_policy` is the endpoint's, which decides whether the stop button can stop an answer.
    """
    from starlette.requests import Request
    from starlette.responses import HTMLResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    page = (PLAYGROUND_DIR / "index.html").read_text(encoding="utf-8")
    page = page.replace(_ENDPOINT_META, f'<meta name="chatkit-endpoint" content="{html.escape(endpoint)}">')
    page = page.replace(_POLICY_META, _POLICY_META.replace("cancel", html.escape(disconnect_policy)))
    # In a script element only "</" could end the JSON early; escaping "<" rules that out.
    options_json = json.dumps(dict(options or {})).replace("<", "\\u003c")
    page = page.replace(_OPTIONS_SCRIPT, _OPTIONS_SCRIPT.replace("{}", options_json))

    async def index(request: Request) -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    return [
        Route("/", index, methods=["GET", "HEAD"]),
        Mount("/playground", app=StaticFiles(directory=PLAYGROUND_DIR), name="playground"),
    ]


def playground_app(
    server: ChatKitServer[Any],
    *,
    context: ContextBuilder | None = None,
    attachment_store: LocalAttachmentStore[Any] | None = None,
    path: str = "/chatkit",
    playground_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> Starlette:
    """`chatkit.asgi.create_app(server, ...)` with the playground at `/`; the app opens and closes the store.

    `playground_options` go to the page (see `playground_routes`), the other options to `create_app`
    (its `retention` sweep runs in this app's lifespan). At shutdown the app drains (the `drain`
    option, or a default `Drain`) before closing the store.
    """
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from chatkit.asgi import Drain, create_app

    drain: Drain = options.pop("drain", None) or Drain()
    retention: RetentionSweeper | None = options.pop("retention", None)
    api = create_app(server, context=context, path=path, attachment_store=attachment_store, drain=drain, **options)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Stores may open lazily, but opening at startup reports a bad database (or bucket) before the
        # first request; closing them releases their connections (an S3 client's session) at shutdown.
        stores = [part for part in (server.store, server.attachment_store) if isinstance(part, _Lifecycle)]
        for part in stores:
            await part.open()
        try:
            # A mounted app's own lifespan never runs: its retention sweep runs here.
            async with retention if retention is not None else nullcontext():
                yield
        finally:
            # A mounted app's own lifespan never runs: its turns are finished (or stopped) here.
            await drain.settle()
            for part in stores:
                await part.aclose()

    policy = str(options.get("disconnect_policy", "cancel"))
    routes = [*playground_routes(path, playground_options, disconnect_policy=policy), Mount("/", app=api)]
    return Starlette(routes=routes, lifespan=lifespan)


__all__ = ["PLAYGROUND_DIR", "playground_app", "playground_routes"]
