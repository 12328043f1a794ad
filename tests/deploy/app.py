"""The app the deployment test serves with `chatkit serve`: scripted answers, PostgreSQL for
threads and attachment bytes.

    CHATKIT_DEPLOY_DSN=postgresql://… CHATKIT_DEPLOY_SECRET=… \\
    chatkit serve tests.deploy.app:make_server --context tests.deploy.app:user_context

The factory builds its stores itself on one `PostgresDatabase` with small pools: three processes
under 100 clients must stay within the test server's 100 connections, which other tests share.
"""

from __future__ import annotations

import os

from starlette.requests import Request

from chatkit.attachments import PostgresAttachmentStore
from chatkit.stores import PostgresDatabase, PostgresStore
from tests.asgi.scripted import Context, ScriptedServer

# Every answer is WORDS words; a "slow" one waits DELAY seconds between them.
WORDS = 20
DELAY = 0.1
# Statement connections per process.
POOL_SIZE = 5
# The sessions a process may hold under its `application_name`: statements plus its one turn lock
# session (the coordination's `LISTEN` session goes by a name of its own).
MAX_SESSIONS = POOL_SIZE + 1


def make_server() -> ScriptedServer:
    """The scripted server with threads and attachment bytes in the database `CHATKIT_DEPLOY_DSN` names."""
    database = PostgresDatabase(os.environ["CHATKIT_DEPLOY_DSN"], max_size=POOL_SIZE)
    files: PostgresAttachmentStore[Context] = PostgresAttachmentStore(
        database=database, secret=os.environ["CHATKIT_DEPLOY_SECRET"]
    )
    return ScriptedServer(PostgresStore(database=database), files, words=WORDS, delay=DELAY)


def user_context(request: Request) -> Context:
    """The user named by the `X-User` header (the test's stand-in for real authentication)."""
    return {"user_id": request.headers.get("x-user", "anonymous"), "locale": request.state.locale}
