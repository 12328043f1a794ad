"""Bob naming Alice's ids over real HTTP: 404 for every request type, nothing changed, no hook called.

`process()` calls exactly the reference's store methods, so `threads.delete`, `items.feedback` and
`attachments.delete` reach `delete_thread`, the `add_feedback` hook and the attachment store
without loading anything first; the HTTP endpoint checks ownership before calling it. Checked on
SQLite and PostgreSQL, and with a store that deletes by id alone, as a store written against the
reference's interface may.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import httpx
import psycopg
import pytest

from chatkit.asgi import create_app
from chatkit.attachments import LocalAttachmentStore
from chatkit.store import Store
from tests.http import serving
from tests.reliability.scripted import CannedServer, Context
from tests.reliability.serving import user_context
from tests.reliability.world import PostgresProbe, SQLiteProbe, Tenant, seed_tenant
from tests.stores.backends import PERSISTENT_BACKENDS, POSTGRES_DSN, make_store, postgres_schema
from tests.stores.reference_style import IdOnlyStore

UNADDRESSED = {"threads.create", "attachments.create", "input.transcribe"}


class RecordingServer(CannedServer):
    """Records every feedback it is given."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.feedback: list[tuple[str, str, list[str], str]] = []

    async def add_feedback(
        self, thread_id: str, item_ids: list[str], feedback: Literal["positive", "negative"], context: Context
    ) -> None:
        """Remember who rated what."""
        self.feedback.append((context["user_id"], thread_id, item_ids, feedback))


@asynccontextmanager
async def two_users(store: Store[Any], tmp_path: Path) -> AsyncIterator[tuple[str, RecordingServer, Tenant, Tenant]]:
    """Alice and Bob seeded on `store`, served over HTTP; yields the endpoint URL, the server and both."""
    files = LocalAttachmentStore[Any](tmp_path / "files", secret="s")
    server = RecordingServer(store, files, pause=0)
    async with serving(create_app(server, context=user_context)) as url:
        # Seeded outside a request, so the files are told where they are served.
        files.base_url = f"{url}/chatkit"
        alice, bob = await seed_tenant(server, files, "alice"), await seed_tenant(server, files, "bob")
        yield f"{url}/chatkit", server, alice, bob


async def bob_tries_everything(client: httpx.AsyncClient, url: str, alice: Tenant) -> dict[str, int]:
    """Bob sends each of Alice's addressed requests; the status of each."""
    statuses: dict[str, int] = {}
    for template in alice.templates():
        if template["type"] not in UNADDRESSED:
            response = await client.post(url, json=template, headers={"x-user": "bob"})
            statuses[template["type"]] = response.status_code
            if response.status_code == 404:
                assert response.json()["error"]["code"] == "not_found"
    return statuses


@asynccontextmanager
async def probe_of(backend: str, tmp_path: Path) -> AsyncIterator[Any]:
    """A probe reading every row of the test's store, and its files."""
    if backend == "sqlite":
        probe = SQLiteProbe(tmp_path / "chatkit.db", tmp_path / "files")
        try:
            yield probe
        finally:
            probe.close()
        return
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as connection:
        yield PostgresProbe(connection, postgres_schema(tmp_path), tmp_path / "files")


@pytest.mark.parametrize("backend", PERSISTENT_BACKENDS)
async def test_other_users_ids_are_404_over_http_and_change_nothing(backend: str, tmp_path: Path) -> None:
    async with (
        make_store(backend, tmp_path) as store,
        two_users(store, tmp_path) as (url, server, alice, _),
        probe_of(backend, tmp_path) as probe,
        httpx.AsyncClient(timeout=30) as client,
    ):
        before = await probe.snapshot()
        statuses = await bob_tries_everything(client, url, alice)
        assert len(statuses) == 13
        assert statuses == dict.fromkeys(statuses, 404)
        assert server.feedback == []
        assert await probe.snapshot() == before


async def test_a_store_that_deletes_by_id_alone_is_safe_over_http(tmp_path: Path) -> None:
    store = IdOnlyStore()
    async with two_users(store, tmp_path) as (url, server, alice, _), httpx.AsyncClient(timeout=30) as client:
        statuses = await bob_tries_everything(client, url, alice)
        assert statuses == dict.fromkeys(statuses, 404)
        assert server.feedback == []
        threads = await store.load_threads(100, None, "asc", alice.context)
        assert sorted(thread.id for thread in threads.data) == sorted(alice.threads.values())
