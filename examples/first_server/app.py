"""The server of the getting-started guide: one endpoint, a per-request context, an answer of its own.

`respond` is where your model goes; here it greets the user by name, which is enough to see a
turn go through and to test it. Threads are kept in SQLite (`DATABASE_PATH`, default `chat.db`).

    pip install "chatkit-server[serve]" fastapi
    uvicorn app:app --port 8000          # then open the playground: chatkit serve app:server
    pytest                               # test_app.py, with chatkit.testing
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from fastapi import FastAPI, Request, Response
from fastapi.responses import StreamingResponse

from chatkit.server import ChatKitServer, StreamingResult
from chatkit.stores import SQLiteStore
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ThreadItemDoneEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
)


@dataclass
class RequestContext:
    """Who is asking: built from each HTTP request, handed to the server and the store."""

    user_id: str


class GreetingServer(ChatKitServer[RequestContext]):
    """Answers every message with a greeting for the user who sent it."""

    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: RequestContext
    ) -> AsyncIterator[ThreadStreamEvent]:
        """One finished assistant message; a real server calls its model here."""
        yield ThreadItemDoneEvent(
            item=AssistantMessageItem(
                id=self.store.generate_item_id("message", thread, context),
                thread_id=thread.id,
                created_at=datetime.now(),
                content=[AssistantMessageContent(text=f"Hi there, {context.user_id}!")],
            )
        )


def make_server(store: SQLiteStore | None = None) -> GreetingServer:
    """The server on `store`, by default the SQLite file `DATABASE_PATH` names."""
    return GreetingServer(store or SQLiteStore(os.environ.get("DATABASE_PATH", "chat.db")))


server = make_server()
app = FastAPI()


@app.post("/chatkit")
async def chatkit_endpoint(request: Request) -> Response:
    """The one ChatKit endpoint: JSON in, JSON or a stream of events out."""
    # Stand-in for your authentication: the user comes from a header the tests set.
    context = RequestContext(user_id=request.headers.get("x-user-id", "guest"))
    result = await server.process(await request.body(), context)
    if isinstance(result, StreamingResult):
        return StreamingResponse(result, media_type="text/event-stream")
    return Response(content=result.json, media_type="application/json")
