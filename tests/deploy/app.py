"""The app the deployment test serves with `chatkit serve`: scripted answers, PostgreSQL for
threads and attachment bytes.

    CHATKIT_DEPLOY_DSN=postgresql://… CHATKIT_DEPLOY_SECRET=… \\
    chatkit serve tests.deploy.app:make_server --store postgresql://… --context tests.deploy.app:user_context
"""

from __future__ import annotations

import os

from starlette.requests import Request

from chatkit.attachments import PostgresAttachmentStore
from chatkit.store import Store
from tests.asgi.scripted import Context, ScriptedServer

# Every answer is WORDS words; a "slow" one waits DELAY seconds between them.
WORDS = 20
DELAY = 0.1


def make_server(store: Store[Context]) -> ScriptedServer:
    """The scripted server on the store `chatkit serve --store` built, with attachments in PostgreSQL."""
    files: PostgresAttachmentStore[Context] = PostgresAttachmentStore(
        os.environ["CHATKIT_DEPLOY_DSN"], secret=os.environ["CHATKIT_DEPLOY_SECRET"], max_size=4
    )
    return ScriptedServer(store, files, words=WORDS, delay=DELAY)


def user_context(request: Request) -> Context:
    """The user named by the `X-User` header (the test's stand-in for real authentication)."""
    return {"user_id": request.headers.get("x-user", "anonymous"), "locale": request.state.locale}
