"""`/healthz` and `/readyz`: answered without the context builder or the access log, 503 naming what failed."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request

from chatkit.asgi import create_app
from chatkit.attachments import LocalAttachmentStore
from chatkit.stores import MemoryStore, PostgresStore
from tests.asgi.scripted import Context, ScriptedServer


def counting_context(calls: list[str]) -> Any:
    def build(request: Request) -> Context:
        calls.append(request.url.path)
        return {"user_id": "alice"}

    return build


def client_of(app: Starlette) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://probe")


async def test_a_healthy_app_is_live_and_ready_without_context_or_access_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[str] = []
    files = LocalAttachmentStore[Any](tmp_path / "files", secret="s")
    app = create_app(ScriptedServer(MemoryStore(), files), context=counting_context(calls))
    caplog.set_level(logging.INFO)
    async with client_of(app) as client:
        live = await client.get("/healthz")
        ready = await client.get("/readyz")
        head = await client.head("/readyz")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "checked": ["store", "attachment_store"]}
    assert ready.headers["cache-control"] == "no-store"
    assert head.status_code == 200
    assert calls == []
    assert [record for record in caplog.records if record.name.startswith("chatkit")] == []


async def test_a_part_that_fails_makes_the_app_unready_and_is_named(tmp_path: Path) -> None:
    # A folder that cannot be made: its parent is a file.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    files = LocalAttachmentStore[Any](blocker / "files", secret="s")
    app = create_app(ScriptedServer(MemoryStore(), files), context=counting_context([]))
    async with client_of(app) as client:
        live = await client.get("/healthz")
        ready = await client.get("/readyz")
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "failed": {"attachment_store": "OSError"}}


async def test_an_unreachable_database_is_unready_within_the_probe_timeout() -> None:
    # Nothing listens on port 9: the store and the coordination on it both fail, and say so.
    store = PostgresStore("postgresql://postgres@127.0.0.1:9/none", timeout=0.5)
    app = create_app(ScriptedServer(store), context=counting_context([]))
    async with client_of(app) as client:
        ready = await client.get("/readyz")
    assert ready.status_code == 503
    failed = ready.json()["failed"]
    assert set(failed) == {"store", "coordination"}
    # Named by kind, never by a message that could hold the DSN.
    assert "127.0.0.1" not in ready.text


async def test_readiness_turns_off_when_the_app_shuts_down() -> None:
    app = create_app(ScriptedServer(MemoryStore()), context=counting_context([]))
    async with client_of(app) as client:
        async with app.router.lifespan_context(app):
            assert (await client.get("/readyz")).status_code == 200
        draining = await client.get("/readyz")
        assert (draining.status_code, draining.json()) == (503, {"status": "draining"})
        assert (await client.get("/healthz")).status_code == 200


async def test_probe_paths_are_configurable_and_can_be_turned_off() -> None:
    app = create_app(ScriptedServer(MemoryStore()), context=counting_context([]), health_path="/live", ready_path=None)
    async with client_of(app) as client:
        assert (await client.get("/live")).status_code == 200
        assert (await client.get("/healthz")).status_code == 404
        assert (await client.get("/readyz")).status_code == 404
        # Probes answer reads only; a write to a probe path is an ordinary unknown route.
        assert (await client.post("/live")).status_code == 404
