"""Targets for `chatkit serve` in the CLI tests: a server instance, factories and things that are neither."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from chatkit.asgi import HTTPAuthError, create_app
from chatkit.server import ChatKitServer
from chatkit.store import Store
from chatkit.stores import MemoryStore
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
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


SLOW_WORDS = 120
SLOW_PACE = 0.05
SLOW_INTRO = "Counting slowly:"


class SlowServer(ChatKitServer[Any]):
    """Answers with a finished line, then `word1 … word120` one word every 50 ms: an answer to reload in."""

    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: Any
    ) -> AsyncIterator[ThreadStreamEvent]:
        """A saved item first, so a rejoin replays over something the page already shows, then the count."""
        yield ThreadItemDoneEvent(item=self._message(thread, context, SLOW_INTRO))
        item = self._message(thread, context, "")
        yield ThreadItemAddedEvent(item=item)
        # As a model's answer starts, so a stop keeps the words streamed so far.
        yield ThreadItemUpdatedEvent(
            item_id=item.id,
            update=AssistantMessageContentPartAdded(content_index=0, content=AssistantMessageContent(text="")),
        )
        words = [f"word{n}" for n in range(1, SLOW_WORDS + 1)]
        for index, word in enumerate(words):
            await asyncio.sleep(SLOW_PACE)
            delta = word if index == 0 else f" {word}"
            yield ThreadItemUpdatedEvent(
                item_id=item.id, update=AssistantMessageContentPartTextDelta(content_index=0, delta=delta)
            )
        item.content = [AssistantMessageContent(text=" ".join(words))]
        yield ThreadItemDoneEvent(item=item)

    def _message(self, thread: ThreadMetadata, context: Any, text: str) -> AssistantMessageItem:
        return AssistantMessageItem(
            id=self.store.generate_item_id("message", thread, context),
            thread_id=thread.id,
            created_at=datetime.now(),
            content=[AssistantMessageContent(text=text)] if text else [],
        )


def make_slow_server(store: Store[Any] | None = None) -> SlowServer:
    """`SlowServer` on the `--store` store, else in memory."""
    return SlowServer(store or MemoryStore())


def make_server(store: Store[Any] | None = None) -> EchoServer:
    """A factory: `chatkit serve` passes the `--store` store when given one."""
    return EchoServer(store or MemoryStore())


async def make_server_later() -> EchoServer:
    """An async factory, which `chatkit serve` refuses."""
    return EchoServer(MemoryStore())


def make_server_on(store: Store[Any]) -> EchoServer:
    """A factory that needs the store, so it cannot run without `--store`."""
    return EchoServer(store)


def make_broken_server() -> EchoServer:
    """A factory whose own code fails."""
    raise LookupError("the model key is not configured")


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


def _custom_route(request: Request) -> PlainTextResponse:
    return PlainTextResponse("mine")


# An app of the user's own (as FastAPI would be), mounting the ChatKit app after a route of its own.
asgi_app = Starlette(
    routes=[
        Route("/custom", _custom_route),
        Mount("/", app=create_app(EchoServer(MemoryStore()), context=header_context)),
    ]
)


def _options_app() -> Starlette:
    """The playground of the echo server with the web component's `header` and `history` options set."""
    from chatkit.playground import playground_app

    options = {
        "header": {"title": {"text": "Support desk"}},
        "history": {"enabled": False},
        "composer": {
            "models": [{"id": "fast", "label": "Fast"}, {"id": "smart", "label": "Smart", "default": True}],
            "tools": [{"id": "search", "label": "Search", "icon": "search", "placeholderOverride": "Search for..."}],
        },
    }
    return playground_app(EchoServer(MemoryStore()), context=header_context, playground_options=options)


options_app = _options_app()
