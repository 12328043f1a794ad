"""Cross-site requests: a page of another site making Alice's browser send her cookie to the server.

Every request type, every content type an HTML form or a no-CORS `fetch` can send, and the upload
routes, from origins that are not the server's own nor allowed by its CORS configuration: each is
refused with 403 before the context builder runs, and the store and the files stay as they were.
Over real HTTP, on SQLite and PostgreSQL. The server's own origin and the allowed one still work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from starlette.requests import Request

from chatkit.asgi import HTTPAuthError, create_app
from chatkit.attachments import LocalAttachmentStore
from tests.http import serving
from tests.reliability.scripted import CannedServer
from tests.reliability.world import PostgresProbe, SQLiteProbe, Tenant, seed_tenant
from tests.stores.backends import PERSISTENT_BACKENDS, POSTGRES_DSN, make_store, postgres_schema

ALLOWED = "https://chat.example"
CONTENT_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/json",
]


class Site:
    """Alice's seeded rows behind a cookie-authenticated app, and a probe of every row and file."""

    def __init__(self, url: str, alice: Tenant, probe: Any, contexts_built: list[str]) -> None:
        self.url = url
        self.alice = alice
        self.probe = probe
        self.contexts_built = contexts_built

    def hostile_origins(self) -> list[str]:
        """Origins a hostile page could have: none is the server's own or allowed."""
        port = self.url.rsplit(":", 1)[1]
        return [
            "https://evil.example",
            "null",  # a sandboxed frame, a file:// page
            f"http://127.0.0.1.evil.example:{port}",
            "https://chat.example:8443",  # the allowed host on another port
        ]


@asynccontextmanager
async def cookie_site(backend: str, tmp_path: Path) -> AsyncIterator[Site]:
    """Alice's world on `backend`, served over HTTP with her identity in a `session` cookie."""
    files = LocalAttachmentStore[Any](tmp_path / "files", secret="s")
    contexts_built: list[str] = []

    def from_cookie(request: Request) -> dict[str, Any]:
        user = request.cookies.get("session")
        if user is None:
            raise HTTPAuthError(401, "sign in")
        contexts_built.append(user)
        return {"user_id": user}

    async with make_store(backend, tmp_path) as store:
        server = CannedServer(store, files, pause=0)
        app = create_app(server, context=from_cookie, attachment_store=files, cors_origins=[ALLOWED])
        async with serving(app) as url:
            files.base_url = f"{url}/chatkit"  # seeded outside a request: told where the files are served
            alice = await seed_tenant(server, files, "alice")
            if backend == "sqlite":
                probe = SQLiteProbe(tmp_path / "chatkit.db", files.root)
                try:
                    yield Site(url, alice, probe, contexts_built)
                finally:
                    probe.close()
            else:
                async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as connection:
                    yield Site(
                        url, alice, PostgresProbe(connection, postgres_schema(tmp_path), files.root), contexts_built
                    )


@pytest.mark.parametrize("backend", PERSISTENT_BACKENDS)
async def test_cross_site_requests_are_refused_and_change_nothing(backend: str, tmp_path: Path) -> None:
    async with cookie_site(backend, tmp_path) as site, httpx.AsyncClient(cookies={"session": "alice"}) as client:
        endpoint = f"{site.url}/chatkit"
        announced = await client.post(
            endpoint,
            json={"type": "attachments.create", "params": {"name": "a.txt", "size": 5, "mime_type": "text/plain"}},
        )
        upload_url = announced.json()["upload_descriptor"]["url"]
        before = await site.probe.snapshot()
        built = len(site.contexts_built)
        templates = site.alice.templates()
        assert len(templates) == 16
        refused = 0
        for origin in site.hostile_origins():
            for template in templates:
                body = httpx.Request("POST", endpoint, json=template).content
                for content_type in CONTENT_TYPES:
                    response = await client.post(
                        endpoint, content=body, headers={"origin": origin, "content-type": content_type}
                    )
                    assert response.status_code == 403, (origin, template["type"], content_type, response.text)
                    assert response.json()["error"]["code"] == "cross_site_request"
                    refused += 1
            files = {"file": ("evil.txt", b"evil!", "text/plain")}
            for method, url in (("POST", f"{endpoint}/upload"), ("PUT", upload_url), ("POST", upload_url)):
                response = await client.request(method, url, files=files, headers={"origin": origin})
                assert response.status_code == 403, (origin, url, response.text)
                raw = await client.request(method, url, content=b"evil!", headers={"origin": origin})
                assert raw.status_code == 403, (origin, url, raw.text)
                refused += 2
        assert refused == 4 * (16 * 4 + 6)
        assert len(site.contexts_built) == built, "a context was built for a cross-site request"
        assert await site.probe.snapshot() == before
        # The server's own pages and the allowed origin are served.
        for origin in (site.url, ALLOWED):
            listing = await client.post(
                endpoint, json={"type": "threads.list", "params": {}}, headers={"origin": origin}
            )
            assert listing.status_code == 200, origin
        uploaded = await client.put(upload_url, content=b"hello", headers={"origin": ALLOWED})
        assert uploaded.status_code == 200, uploaded.text
