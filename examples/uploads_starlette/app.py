"""A plain Starlette app: SQLite for threads, local disk for uploads, no model at all.

The assistant answers every message by describing the files attached to it, which is enough to
see the whole upload flow work: `attachments.create`, the upload itself, then the message.

    pip install "chatkit-server[serve]"
    export UPLOADS_SECRET=change-me        # the same value in every process serving these files
    uvicorn app:app --port 8000
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from chatkit.asgi import create_app
from chatkit.attachments import LocalAttachmentStore
from chatkit.server import ChatKitServer
from chatkit.stores import SQLiteStore
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ThreadItemDoneEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
)

Context = dict[str, Any]


class FileDescriber(ChatKitServer[Context]):
    """Answers with a short description of each attached file."""

    def __init__(self, store: SQLiteStore, files: LocalAttachmentStore[Context]) -> None:
        super().__init__(store, files)
        self.files = files

    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: Context
    ) -> AsyncIterator[ThreadStreamEvent]:
        """Describe the attachments of the user's message."""
        if input_user_message is None:
            return
        lines = []
        for attachment in input_user_message.attachments:
            stored = await self.files.load_file(attachment.id, self.files.scope_key(context))
            if stored is None:
                lines.append(f"- {attachment.name}: announced but never uploaded")
                continue
            line = f"- {stored.name}: {stored.mime_type}, {stored.size} bytes"
            if stored.mime_type.startswith("text/"):
                with stored.path.open("rb") as file:
                    first_line = file.readline(200).decode("utf-8", errors="replace").strip()
                line += f", starting “{first_line}”"
            lines.append(line)
        text = "You attached:\n" + "\n".join(lines) if lines else "Attach a file and I will describe it."
        yield ThreadItemDoneEvent(
            item=AssistantMessageItem(
                id=self.store.generate_item_id("message", thread, context),
                thread_id=thread.id,
                created_at=datetime.now(),
                content=[AssistantMessageContent(text=text)],
            )
        )


def request_context(request: Request) -> Context:
    """One user per browser session would go here; this example has a single local user."""
    return {"user_id": "local"}


store = SQLiteStore(os.environ.get("DATABASE_PATH", "uploads-example.db"))
files = LocalAttachmentStore[Context](
    os.environ.get("UPLOADS_DIR", "uploads"),
    secret=os.environ.get("UPLOADS_SECRET"),
    max_bytes=5 * 1024 * 1024,
)
server = FileDescriber(store, files)


async def healthz(request: Request) -> JSONResponse:
    """A liveness probe."""
    return JSONResponse({"status": "ok"})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with store:
        yield


app = Starlette(
    routes=[
        Route("/healthz", healthz),
        # create_app serves POST /chatkit plus the upload and file routes below it.
        Mount("/", app=create_app(server, context=request_context)),
    ],
    lifespan=lifespan,
)
