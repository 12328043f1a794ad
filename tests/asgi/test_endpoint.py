"""`ChatKitEndpoint` as one route of an app of the integrator's own."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.types import Message

from chatkit.asgi import ChatKitEndpoint, HTTPAuthError
from chatkit.stores import MemoryStore, StoreUnavailableError
from tests.asgi.scripted import ScriptedServer
from tests.http import parse_events, serving, user_message


async def test_a_route_in_an_existing_app(caplog: pytest.LogCaptureFixture) -> None:
    async def health(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    server = ScriptedServer(MemoryStore(single_tenant=True))
    app = Starlette(routes=[Route("/health", health), Route("/api/chat", ChatKitEndpoint(server), methods=["POST"])])
    with caplog.at_level(logging.INFO, logger="chatkit.access"):
        async with serving(app) as url, httpx.AsyncClient() as client:
            assert (await client.get(f"{url}/health")).text == "ok"
            streamed = await client.post(f"{url}/api/chat", json=user_message("hi"), headers={"x-request-id": "own-1"})
            missing = await client.post(
                f"{url}/api/chat", json={"type": "threads.get_by_id", "params": {"thread_id": "thr_nope"}}
            )
    assert streamed.headers["x-request-id"] == "own-1"
    assert parse_events(streamed.content)[-1]["item"]["content"][0]["text"] == "hi:0 hi:1 hi:2 hi:3 hi:4 "
    assert missing.status_code == 404
    assert missing.json()["error"]["request_id"] == missing.headers["x-request-id"]
    records = [record for record in caplog.records if record.name == "chatkit.access"]
    assert [(r.__dict__["chatkit_request_type"], r.__dict__["http_status"]) for r in records] == [
        ("threads.create", 200),
        ("threads.get_by_id", 404),
    ]
    assert records[0].__dict__["bytes_sent"] == len(streamed.content)


def test_policies_are_checked_when_built() -> None:
    server = ScriptedServer(MemoryStore())
    with pytest.raises(ValueError, match="turn_policy"):
        ChatKitEndpoint(server, turn_policy="queue")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="disconnect_policy"):
        ChatKitEndpoint(server, disconnect_policy="ignore")  # type: ignore[arg-type]


async def _call(
    endpoint: ChatKitEndpoint, chunks: list[bytes], headers: list[tuple[bytes, bytes]]
) -> tuple[int, bytes, int]:
    """Call the endpoint at the ASGI level: (status, body, how many body messages it asked for)."""
    asked = 0
    sent: list[Message] = []

    async def receive() -> Message:
        nonlocal asked
        asked += 1
        if asked <= len(chunks):
            return {"type": "http.request", "body": chunks[asked - 1], "more_body": asked < len(chunks)}
        await asyncio.sleep(3600)  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/chatkit", "headers": headers, "query_string": b""}
    await asyncio.wait_for(endpoint(scope, receive, send), 5)
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return sent[0]["status"], body, asked


async def test_the_context_is_built_before_the_body_is_read() -> None:
    def who(request: Request) -> dict[str, str]:
        user = request.headers.get("x-user")
        if user is None:
            raise HTTPAuthError(401, "who are you?")
        return {"user_id": user}

    endpoint = ChatKitEndpoint(ScriptedServer(MemoryStore()), context=who)
    chunks = [b'{"type": "threads.list", ', b'"params": {}}']
    status, _, asked = await _call(endpoint, chunks, [(b"content-type", b"application/json")])
    assert (status, asked) == (401, 0)
    status, body, asked = await _call(endpoint, chunks, [(b"x-user", b"alice")])
    assert (status, json.loads(body), asked) == (200, {"data": [], "has_more": False}, 2)


async def test_a_context_builder_may_read_the_body_itself() -> None:
    seen: list[bytes] = []

    async def signed(request: Request) -> dict[str, str]:
        body = await request.body()
        seen.append(body)
        return {"user_id": "alice"}

    endpoint = ChatKitEndpoint(ScriptedServer(MemoryStore()), context=signed, max_body_bytes=100)
    chunks = [b'{"type": "threads.list", ', b'"params": {}}']
    status, body, _ = await _call(endpoint, chunks, [])
    assert (status, json.loads(body)) == (200, {"data": [], "has_more": False})
    assert seen == [b"".join(chunks)]
    # The limit holds for the builder's read too.
    status, body, _ = await _call(endpoint, [b" " * 60, b" " * 60], [])
    assert (status, json.loads(body)["error"]["code"]) == (413, "payload_too_large")
    assert len(seen) == 1


class _DownStore(MemoryStore):
    """A store whose database is gone: every listing is unavailable."""

    async def load_threads(self, limit: int, after: str | None, order: str, context: object) -> Any:
        raise StoreUnavailableError("no connection within 10 s")


async def test_an_unavailable_store_is_a_503_that_says_when_to_retry() -> None:
    from chatkit.asgi import create_app

    app = create_app(ScriptedServer(_DownStore()), context=lambda request: {"user_id": "alice"})
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.post("/chatkit", json={"type": "threads.list", "params": {}})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.json()["error"]["code"] == "unavailable"
