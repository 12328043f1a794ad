"""`ChatKitEndpoint` as one route of an app of the integrator's own."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from chatkit.asgi import ChatKitEndpoint
from chatkit.stores import MemoryStore
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
