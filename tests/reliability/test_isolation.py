"""Tenant isolation: Bob addressing Alice's threads, items and attachments gets 404 and changes nothing.

Checked for every request type that names an id, on SQLite and PostgreSQL, at the `process()`
level and over HTTP; listings never show another user's rows; Alice's upload and file URLs are
useless to Bob.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from chatkit.asgi import create_app
from chatkit.attachments import LocalAttachmentStore
from chatkit.server import NonStreamingResult, StreamingResult
from chatkit.store import NotFoundError
from tests.reliability.scripted import CannedServer
from tests.reliability.serving import user_context
from tests.reliability.world import PostgresProbe, SQLiteProbe, Tenant, seed_tenant
from tests.stores.backends import PERSISTENT_BACKENDS, POSTGRES_DSN, make_store, postgres_schema

BASE_URL = "http://127.0.0.1/chatkit"
# Requests that name no existing id of anyone.
UNADDRESSED = {"threads.create", "attachments.create", "input.transcribe"}


class World:
    """Alice and Bob seeded on one store, with the server, files and a probe of every row."""

    def __init__(self, server: CannedServer, files: LocalAttachmentStore[Any], probe: Any, alice: Tenant, bob: Tenant):
        self.server = server
        self.files = files
        self.probe = probe
        self.alice = alice
        self.bob = bob

    def addressed(self) -> list[dict[str, Any]]:
        """Alice's requests that name her ids and must be 404 for Bob."""
        return [template for template in self.alice.templates() if template["type"] not in UNADDRESSED]


@asynccontextmanager
async def world(backend: str, tmp_path: Path) -> AsyncIterator[World]:
    """A seeded two-tenant world on an open store of `backend`."""
    files = LocalAttachmentStore[Any](tmp_path / "files", secret="s", base_url=BASE_URL)
    async with make_store(backend, tmp_path) as store:
        server = CannedServer(store, files, pause=0)
        alice, bob = await seed_tenant(server, files, "alice"), await seed_tenant(server, files, "bob")
        if backend == "sqlite":
            probe = SQLiteProbe(tmp_path / "chatkit.db", files.root)
            try:
                yield World(server, files, probe, alice, bob)
            finally:
                probe.close()
        else:
            async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as connection:
                yield World(server, files, PostgresProbe(connection, postgres_schema(tmp_path), files.root), alice, bob)


async def outcome(world: World, request: dict[str, Any], context: Any) -> str:
    """What `process` did: "not found", or what it answered."""
    try:
        result = await world.server.process(json.dumps(request), context)
        if isinstance(result, StreamingResult):
            return "stream: " + b"".join([frame async for frame in result]).decode()[:200]
        return "json: " + result.json.decode()[:200]
    except NotFoundError:
        return "not found"


@pytest.mark.parametrize("backend", PERSISTENT_BACKENDS)
async def test_other_users_ids_are_not_found_and_change_nothing(backend: str, tmp_path: Path) -> None:
    async with world(backend, tmp_path) as w:
        before = await w.probe.snapshot()
        requests = w.addressed()
        assert len(requests) == 13
        answers = {request["type"]: await outcome(w, request, w.bob.context) for request in requests}
        # As in the reference, process() hands feedback to the integrator's add_feedback hook
        # without reading the store; the HTTP endpoint answers 404 (see the test over HTTP below).
        assert answers == {**dict.fromkeys(answers, "not found"), "items.feedback": "json: {}"}
        assert await w.probe.snapshot() == before


@pytest.mark.parametrize("backend", PERSISTENT_BACKENDS)
async def test_listings_show_only_the_callers_rows(backend: str, tmp_path: Path) -> None:
    async with world(backend, tmp_path) as w:
        for order in ("asc", "desc"):
            for limit in (1, 3, 100):
                after = None
                seen: list[str] = []
                while True:
                    params = {"limit": limit, "order": order, "after": after}
                    result = await w.server.process(
                        json.dumps({"type": "threads.list", "params": params}), w.bob.context
                    )
                    assert isinstance(result, NonStreamingResult)
                    page = json.loads(result.json)
                    seen.extend(thread["id"] for thread in page["data"])
                    if not page["has_more"]:
                        break
                    after = page["after"]
                assert sorted(seen) == sorted(w.bob.threads.values())
        for thread_id in w.bob.threads.values():
            for request in (
                {"type": "threads.get_by_id", "params": {"thread_id": thread_id}},
                {"type": "items.list", "params": {"thread_id": thread_id, "limit": 100}},
            ):
                answer = (await outcome(w, request, w.bob.context)).encode()
                assert not any(alice_id.encode() in answer for alice_id in w.alice.ids())


async def test_other_users_ids_are_404_over_http(tmp_path: Path) -> None:
    async with world("sqlite", tmp_path) as w:
        app = create_app(w.server, context=user_context, attachment_store=w.files)
        before = await w.probe.snapshot()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
            for request in w.addressed():
                answer = await client.post(BASE_URL, json=request, headers={"x-user": "bob"})
                assert answer.status_code == 404, (request["type"], answer.text)
                assert answer.json()["error"]["code"] == "not_found"
        assert await w.probe.snapshot() == before


async def test_alices_upload_and_file_urls_are_useless_to_bob(tmp_path: Path) -> None:
    async with world("sqlite", tmp_path) as w:
        app = create_app(w.server, context=user_context, attachment_store=w.files)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
            created = await client.post(
                BASE_URL,
                json={"type": "attachments.create", "params": {"name": "a.txt", "size": 5, "mime_type": "text/plain"}},
                headers={"x-user": "alice"},
            )
            upload_url = created.json()["upload_descriptor"]["url"]
            before = await w.probe.snapshot()
            # Alice's upload URL, token and all, in Bob's hands.
            stolen = await client.put(upload_url, content=b"bob's", headers={"x-user": "bob"})
            assert stolen.status_code == 404, stolen.text
            # Alice's uploaded file, without a token: Bob is not its owner.
            alice_file = f"{BASE_URL}/files/{w.alice.attachment}"
            assert (await client.get(alice_file, headers={"x-user": "bob"})).status_code == 404
            # Bob's own file token does not open Alice's file.
            bob_token = w.files.sign("file", w.bob.attachment, None, w.files.scope_key(w.bob.context))
            fetched = await client.get(f"{alice_file}?token={bob_token}", headers={"x-user": "bob"})
            assert fetched.status_code == 403
            # Alice herself still gets it.
            assert (await client.get(alice_file, headers={"x-user": "alice"})).content == b"hello world"
            assert await w.probe.snapshot() == before
