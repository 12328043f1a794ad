"""Real HTTP for the ASGI tests: a uvicorn server on 127.0.0.1 and an httpx client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.types import ASGIApp

from chatkit.asgi import HTTPAuthError
from chatkit.attachments import LocalAttachmentStore
from chatkit.stores import MemoryStore
from tests.asgi.scripted import Context, ScriptedServer
from tests.http import parse_events, serving, user_message


def user_context(request: Request) -> Context:
    """Test auth: `X-User` names the user; no header is 401, user `mallory` is 403."""
    user = request.headers.get("x-user")
    if user is None:
        raise HTTPAuthError(401, "who are you?", headers={"WWW-Authenticate": "X-User"})
    if user == "mallory":
        raise HTTPAuthError(403, "not you")
    return {"user_id": user, "locale": request.state.locale}


class Harness:
    """A running app with its server, stores and an HTTP client acting as user `alice`."""

    def __init__(self, url: str, client: httpx.AsyncClient, server: ScriptedServer, files: LocalAttachmentStore[Any]):
        self.url = url
        self.client = client
        self.server = server
        self.store: MemoryStore = server.store  # type: ignore[assignment]
        self.files = files

    async def post(self, body: Any, user: str = "alice", **kwargs: Any) -> httpx.Response:
        """POST a request to /chatkit (a dict is sent as JSON, bytes as they are)."""
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"x-user": user, "content-type": "application/json", **kwargs.pop("headers", {})}
        return await self.client.post(f"{self.url}/chatkit", content=content, headers=headers, **kwargs)

    async def stream(self, body: Any, user: str = "alice") -> tuple[httpx.Response, list[dict[str, Any]]]:
        """POST a streaming request and collect its events."""
        response = await self.post(body, user)
        return response, parse_events(response.content)

    async def new_thread(self, text: str = "hello") -> str:
        """Create a thread with one finished turn; its id."""
        response, events = await self.stream(user_message(text))
        assert response.status_code == 200, response.text
        return events[0]["thread"]["id"]

    async def items(self, thread_id: str, user: str = "alice") -> list[dict[str, Any]]:
        """Every stored item of a thread, oldest first, including hidden ones."""
        page = await self.store.load_thread_items(thread_id, None, 100, "asc", {"user_id": user})
        return [item.model_dump(mode="json") for item in page.data]


AppFactory = Callable[..., ASGIApp]


@pytest.fixture
def files(tmp_path: Path) -> LocalAttachmentStore[Any]:
    """Attachment files under a temporary directory, with a fixed secret."""
    return LocalAttachmentStore(tmp_path / "files", secret="test-secret", max_bytes=4096)


@pytest.fixture
async def make_harness(files: LocalAttachmentStore[Any]) -> AsyncIterator[Callable[..., Any]]:
    """Start an app built by `create_app(server, **options)`; use as `async with make_harness(...) as h`."""

    @asynccontextmanager
    async def start(server_options: dict[str, Any] | None = None, **options: Any) -> AsyncIterator[Harness]:
        from chatkit.asgi import create_app

        server = ScriptedServer(MemoryStore(), files, **(server_options or {}))
        app = create_app(server, context=user_context, **options)
        async with serving(app) as url, httpx.AsyncClient(timeout=30) as client:
            yield Harness(url, client, server, files)

    yield start
