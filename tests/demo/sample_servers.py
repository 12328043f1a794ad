"""Targets for `chatkit serve` in the CLI tests: a server instance, factories and things that are neither."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from starlette.requests import Request

from chatkit.asgi import HTTPAuthError
from chatkit.server import ChatKitServer
from chatkit.store import Store
from chatkit.stores import MemoryStore
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ThreadItemDoneEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
)


class EchoServer(ChatKitServer[Any]):
    """Answers every message with `echo: <text>`, and says who asked."""

    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: Any
    ) -> AsyncIterator[ThreadStreamEvent]:
        """Echo the user's text."""
        text = "" if input_user_message is None else " ".join(p.text for p in input_user_message.content)
        yield ThreadItemDoneEvent(
            item=AssistantMessageItem(
                id=self.store.generate_item_id("message", thread, context),
                thread_id=thread.id,
                created_at=datetime.now(),
                content=[AssistantMessageContent(text=f"echo: {text} (for {context['user_id']})")],
            )
        )


server = EchoServer(MemoryStore())


def make_server(store: Store[Any] | None = None) -> EchoServer:
    """A factory: `chatkit serve` passes the `--store` store when given one."""
    return EchoServer(store or MemoryStore())


async def make_server_later() -> EchoServer:
    """An async factory, which `chatkit serve` refuses."""
    return EchoServer(MemoryStore())


def make_nothing() -> str:
    """A factory returning something other than a server."""
    return "not a server"


def header_context(request: Request) -> dict[str, Any]:
    """A `--context` builder: the user comes from the `X-User` header."""
    return {"user_id": request.headers.get("x-user", "anonymous")}


NOT_A_SERVER = 42


def required_user(request: Request) -> dict[str, Any]:
    """A `--context` builder for an authenticated app: no `X-User-Id` header, no access."""
    user = request.headers.get("x-user-id")
    if not user:
        raise HTTPAuthError(401, "Sign in first: send the X-User-Id header.")
    return {"user_id": user}
