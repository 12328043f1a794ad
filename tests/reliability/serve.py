"""The demo-like server the crash, concurrency and soak runs start as a subprocess.

    python -m tests.reliability.serve --port 8123 --store sqlite:////tmp/chat.db [--schema NAME] [--limited]

It serves the canned `CannedServer` at `/chatkit` (user from the `X-User` header), uploads below it,
and `GET /health`. PostgreSQL stores take `--schema`, so every test keeps its own tables. With
`--limited` it runs under `chatkit.asgi.uvicorn_config`'s limits, as `chatkit serve` does;
otherwise with uvicorn's defaults.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from chatkit.asgi import ServeLimits, create_app, uvicorn_config
from chatkit.attachments import LocalAttachmentStore
from chatkit.stores import PostgresStore, ScopedStore, store_from_url
from tests.reliability.scripted import CannedServer
from tests.reliability.serving import user_context


def build_app(args: argparse.Namespace) -> Starlette:
    """The app: the canned server on the chosen store, plus a health route."""
    store: ScopedStore
    if args.store.startswith("postgres"):
        store = PostgresStore(args.store, schema=args.schema, max_size=args.pool)
    else:
        store = store_from_url(args.store)
    files = LocalAttachmentStore[Any](args.files, secret="reliability") if args.files else None
    server = CannedServer(store, files, deltas=args.deltas, pause=args.pause)

    async def health(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    chatkit = create_app(server, context=user_context, attachment_store=files)
    return Starlette(routes=[Route("/health", health), Mount("/", app=chatkit)])


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options and serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--store", required=True, help="store URL")
    parser.add_argument("--schema", default="chatkit", help="PostgreSQL schema")
    parser.add_argument("--pool", type=int, default=10, help="PostgreSQL pool size")
    parser.add_argument("--files", help="directory for uploads (none: no uploads)")
    parser.add_argument("--deltas", type=int, default=6)
    parser.add_argument("--pause", type=float, default=0.01)
    parser.add_argument("--limited", action="store_true", help="serve under uvicorn_config's limits")
    parser.add_argument("--header-timeout", type=float, default=ServeLimits.header_timeout)
    parser.add_argument("--max-connections", type=int, default=ServeLimits.max_connections)
    args = parser.parse_args(argv)
    options: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": args.port,
        "log_level": "warning",
        "access_log": False,
        "lifespan": "off",
        "ws": "none",
        "backlog": 4096,
    }
    if not args.limited:
        uvicorn.run(build_app(args), **options)
        return 0
    limits = ServeLimits(header_timeout=args.header_timeout, max_connections=args.max_connections)
    uvicorn.Server(uvicorn_config(build_app(args), limits=limits, **options)).run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
