"""The app the deployment test serves with `chatkit serve`: scripted answers, PostgreSQL for
threads and attachment bytes.

    CHATKIT_DEPLOY_DSN=postgresql://… CHATKIT_DEPLOY_SECRET=… \\
    chatkit serve tests.deploy.app:make_server --context tests.deploy.app:user_context

The factory builds its stores itself, with small pools: three processes under 100 clients must
stay within the test server's 100 connections, which other tests share.
"""

from __future__ import annotations

import os

from starlette.requests import Request

from chatkit.attachments import PostgresAttachmentStore
from chatkit.stores import PostgresStore
from tests.asgi.scripted import Context, ScriptedServer

# Every answer is WORDS words; a "slow" one waits DELAY seconds between them.
WORDS = 20
DELAY = 0.1
# Each pool of each store (and so the turns a process runs at once).
POOL_SIZE = 5


def make_server() -> ScriptedServer:
    """The scripted server with threads and attachment bytes in the database `CHATKIT_DEPLOY_DSN` names."""
    dsn = os.environ["CHATKIT_DEPLOY_DSN"]
    files: PostgresAttachmentStore[Context] = PostgresAttachmentStore(
        dsn, secret=os.environ["CHATKIT_DEPLOY_SECRET"], max_size=POOL_SIZE
    )
    return ScriptedServer(PostgresStore(dsn, max_size=POOL_SIZE), files, words=WORDS, delay=DELAY)


def user_context(request: Request) -> Context:
    """The user named by the `X-User` header (the test's stand-in for real authentication)."""
    return {"user_id": request.headers.get("x-user", "anonymous"), "locale": request.state.locale}
