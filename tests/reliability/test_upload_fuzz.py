"""Fuzzing the upload and file routes: random ids, tokens, content types and (broken) multipart bodies.

No request may answer 5xx or hang, and a refused one leaves every row and every file as it was.
A truncated multipart body leaks a temporary file (`test_a_truncated_multipart_upload_leaks_nothing`
below): the fuzz loop records those ResourceWarnings instead of failing on them, until the fix.
"""

from __future__ import annotations

import asyncio
import gc
import random
import warnings
from pathlib import Path
from typing import Any

import httpx
from starlette.types import ASGIApp

from chatkit.asgi import create_app
from chatkit.attachments import LocalAttachmentStore
from chatkit.stores import ScopedStore
from chatkit.types import AttachmentCreateParams
from tests.reliability.scripted import CannedServer
from tests.reliability.serving import user_context
from tests.reliability.world import SQLiteProbe, Tenant, seed_tenant
from tests.stores.backends import make_store

BASE_URL = "http://127.0.0.1/chatkit"
REQUESTS = 600
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 2
BOUNDARY = "fuzzboundary"
FILE_PART = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\nContent-Type: text/plain\r\n\r\n'
).encode()


def multipart(rng: random.Random, filename: str, content_type: str, data: bytes) -> bytes:
    """A multipart body with one file field, sometimes broken on purpose."""
    part = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{rng.choice(["file", "other", ""])}"; '
        f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'
    ).encode() + data
    body = part + f"\r\n--{BOUNDARY}--\r\n".encode()
    breakage = rng.random()
    if breakage < 0.15:
        return body[: rng.randrange(len(body))]
    if breakage < 0.25:
        return body.replace(b"\r\n", b"\n")
    if breakage < 0.3:
        return body + body
    return body


class UploadFuzzer:
    """Random requests to the upload and file routes of one app, checked one by one."""

    def __init__(
        self, rng: random.Random, files: LocalAttachmentStore[Any], store: ScopedStore, tenants: list[Tenant]
    ) -> None:
        self.rng = rng
        self.files = files
        self.store = store
        self.tenants = tenants
        self.statuses: dict[int, int] = {}

    async def run(self, app: ASGIApp, probe: SQLiteProbe) -> None:
        """Send `REQUESTS` requests: no 5xx, no hang, and nothing changed by a refusal."""
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), timeout=30) as client:
            for _ in range(REQUESTS):
                method, url, body, headers = await self.request()
                before = await probe.snapshot()
                answer = await asyncio.wait_for(client.request(method, url, content=body, headers=headers), 10)
                self.statuses[answer.status_code] = self.statuses.get(answer.status_code, 0) + 1
                assert answer.status_code < 500, (method, url, headers, body[:200], answer.text)
                if answer.status_code >= 400:
                    assert await probe.snapshot() == before, (method, url, answer.status_code, answer.text)

    async def request(self) -> tuple[str, str, bytes, dict[str, str]]:
        """One random request: method, URL, body and headers."""
        rng, files = self.rng, self.files
        attachment_id = rng.choice([tenant.attachment for tenant in self.tenants] + ["..", "a/b", "x" * 300, ""])
        if rng.random() < 0.5:
            # A fresh announced attachment of Alice's, waiting for its bytes.
            name, mime_type = rng.choice([("a.txt", "text/plain"), ("b.png", "image/png")])
            owner = self.tenants[0].context
            pending = await files.create_attachment(
                AttachmentCreateParams(name=name, size=10, mime_type=mime_type), owner
            )
            await self.store.save_attachment(pending, owner)
            attachment_id = pending.id
        key = files.scope_key(self.tenants[0].context)
        token = files.sign("upload", attachment_id, 600, key)
        if rng.random() < 0.4:
            token = rng.choice(
                [
                    files.sign("file", attachment_id, None, key),
                    files.sign("upload", attachment_id, -1, key),
                    "",
                    "1.2",
                    "99999999999999999999.x",
                ]
            )
        content_type, data = rng.choice(
            [("text/plain", b"hello"), ("image/png", PNG), ("image/png", b"nope"), ("text/plain", PNG)]
        )
        if rng.random() < 0.1:
            data = data * 1000
        headers = {"x-user": rng.choice(["alice", "alice", "alice", "alice", "bob", ""])}
        if rng.random() < 0.5:
            filename = rng.choice(["a.txt", "../../x", "", "\u202eexe.txt", "a\x00b", "é.png"])
            body = multipart(rng, filename, content_type, data)
            boundaries = [f"; boundary={BOUNDARY}", "", "; boundary="]
            headers["content-type"] = "multipart/form-data" + rng.choice(boundaries)
        else:
            body = data
            headers["content-type"] = content_type
        route = rng.choice(["uploads", "uploads", "uploads", "upload", "files"])
        url = f"{BASE_URL}/upload" if route == "upload" else f"{BASE_URL}/{route}/{attachment_id}"
        method = "GET" if route == "files" else rng.choice(["PUT", "POST"])
        return method, f"{url}?token={token}", body, headers


async def test_upload_routes_survive_fuzzing(tmp_path: Path) -> None:
    files = LocalAttachmentStore[Any](tmp_path / "files", secret="s", base_url=BASE_URL, max_bytes=2048)
    async with make_store("sqlite", tmp_path) as store:
        server = CannedServer(store, files, pause=0)
        tenants = [await seed_tenant(server, files, user) for user in ("alice", "bob")]
        fuzzer = UploadFuzzer(random.Random(11), files, store, tenants)
        probe = SQLiteProbe(tmp_path / "chatkit.db", files.root)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ResourceWarning)
                await fuzzer.run(create_app(server, context=user_context, attachment_store=files), probe)
                gc.collect()
        finally:
            probe.close()
    statuses = fuzzer.statuses
    leaked = sum(issubclass(warning.category, ResourceWarning) for warning in caught)
    print(f"upload fuzz: {REQUESTS} requests, statuses {dict(sorted(statuses.items()))}, temp files leaked: {leaked}")
    assert statuses.get(200, 0) > 10 and sum(count for status, count in statuses.items() if status >= 400) > 100


async def test_a_truncated_multipart_upload_leaks_nothing(tmp_path: Path) -> None:
    files = LocalAttachmentStore[Any](tmp_path / "files", secret="s", max_bytes=2048)
    async with make_store("sqlite", tmp_path) as store:
        app = create_app(CannedServer(store, files), context=user_context)
        headers = {"x-user": "alice", "content-type": f"multipart/form-data; boundary={BOUNDARY}"}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
                answer = await client.post(f"{BASE_URL}/upload", content=FILE_PART + b"cut off here", headers=headers)
            gc.collect()
    assert answer.status_code == 400
    assert [str(warning.message) for warning in caught if issubclass(warning.category, ResourceWarning)] == []
