"""Upload abuse: every refused upload is a 4xx with a JSON body and writes nothing to disk or store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from chatkit.asgi import create_app
from chatkit.attachments import LocalAttachmentStore
from tests.http import serving
from tests.reliability.scripted import CannedServer
from tests.reliability.serving import user_context
from tests.reliability.world import SQLiteProbe
from tests.stores.backends import make_store

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
LIMIT = 4096


class Uploads:
    """A served app with small upload limits, an HTTP client, and a view of every file and row."""

    def __init__(self, url: str, client: httpx.AsyncClient, files: LocalAttachmentStore[Any], probe: SQLiteProbe):
        self.url = url
        self.client = client
        self.files = files
        self.probe = probe

    async def announce(self, name: str, mime_type: str, size: int, user: str = "alice") -> dict[str, Any]:
        """`attachments.create` that must succeed; the attachment."""
        answer = await self.client.post(
            f"{self.url}/chatkit",
            json={"type": "attachments.create", "params": {"name": name, "size": size, "mime_type": mime_type}},
            headers={"x-user": user},
        )
        assert answer.status_code == 200, answer.text
        return answer.json()


@asynccontextmanager
async def uploads(tmp_path: Path) -> AsyncIterator[Uploads]:
    """The app over real HTTP; uploads go under `tmp_path / "files"`."""
    files = LocalAttachmentStore[Any](tmp_path / "files", secret="uploads", max_bytes=LIMIT)
    async with make_store("sqlite", tmp_path) as store:
        app = create_app(CannedServer(store, files), context=user_context)
        probe = SQLiteProbe(tmp_path / "chatkit.db", files.root)
        try:
            async with serving(app) as url, httpx.AsyncClient(timeout=10) as client:
                yield Uploads(url, client, files, probe)
        finally:
            probe.close()


def tree(root: Path) -> list[str]:
    """Every path below `root`."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


async def refused(u: Uploads, tmp_path: Path, send: Any) -> int:
    """Send one abusive request; check it was refused (with a JSON error from our routes) and wrote nothing."""
    before_rows, before_tree = await u.probe.snapshot(), tree(tmp_path)
    answer: httpx.Response = await send()
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text)
    if answer.text != "Not Found":
        # Anything but the router's own answer to a path no route matches.
        assert isinstance(answer.json()["error"]["code"], str)
    assert tree(tmp_path) == before_tree
    assert await u.probe.snapshot() == before_rows
    return answer.status_code


async def test_oversize_uploads_are_413(tmp_path: Path) -> None:
    async with uploads(tmp_path) as u:
        body = b"a" * (LIMIT + 1)
        created = await u.client.post(
            f"{u.url}/chatkit",
            json={
                "type": "attachments.create",
                "params": {"name": "big.txt", "size": LIMIT + 1, "mime_type": "text/plain"},
            },
            headers={"x-user": "alice"},
        )
        assert created.status_code == 413
        attachment = await u.announce("small.txt", "text/plain", 10)
        url = attachment["upload_descriptor"]["url"]
        user = {"x-user": "alice"}
        assert await refused(u, tmp_path, lambda: u.client.put(url, content=body, headers=user)) == 413

        async def chunked() -> AsyncIterator[bytes]:
            for _ in range(LIMIT // 512 + 2):
                yield b"a" * 512

        assert await refused(u, tmp_path, lambda: u.client.put(url, content=chunked(), headers=user)) == 413
        multipart = {"file": ("big.txt", body, "text/plain")}
        direct = f"{u.url}/chatkit/upload"
        assert await refused(u, tmp_path, lambda: u.client.post(direct, files=multipart, headers=user)) == 413
        many = {"file": ("a.txt", b"a", "text/plain"), "other": ("b.txt", b"b", "text/plain")}
        assert await refused(u, tmp_path, lambda: u.client.post(direct, files=many, headers=user)) == 400


@pytest.mark.parametrize(
    ("declared", "content"),
    [
        ("image/png", b"just text, not a picture"),
        ("text/plain", PNG),
        ("application/pdf", PNG),
        ("image/jpeg", PNG),
        ("text/html", b"<script>alert(1)</script>"),
        ("application/x-msdownload", b"MZ\x90\x00"),
    ],
)
async def test_wrong_or_spoofed_types_are_refused(declared: str, content: bytes, tmp_path: Path) -> None:
    async with uploads(tmp_path) as u:
        user = {"x-user": "alice"}
        direct = f"{u.url}/chatkit/upload"
        multipart = {"file": ("f.bin", content, declared)}
        assert await refused(u, tmp_path, lambda: u.client.post(direct, files=multipart, headers=user)) == 415
        if declared in ("text/html", "application/x-msdownload"):
            # Not even announced: the type is not accepted at all.
            answer = await u.client.post(
                f"{u.url}/chatkit",
                json={"type": "attachments.create", "params": {"name": "x", "size": 4, "mime_type": declared}},
                headers=user,
            )
            assert answer.status_code == 415
            return
        attachment = await u.announce("f.bin", declared, len(content))
        url = attachment["upload_descriptor"]["url"]
        put = {**user, "content-type": declared}
        assert await refused(u, tmp_path, lambda: u.client.put(url, content=content, headers=put)) == 415


async def test_missing_forged_expired_and_borrowed_tokens_are_403(tmp_path: Path) -> None:
    async with uploads(tmp_path) as u:
        user = {"x-user": "alice"}
        attachment = await u.announce("a.txt", "text/plain", 5)
        other = await u.announce("b.txt", "text/plain", 5)
        base = f"{u.url}/chatkit/uploads/{attachment['id']}"
        files = u.files
        alice, bob = files.scope_key({"user_id": "alice"}), files.scope_key({"user_id": "bob"})
        tokens = [
            "",
            "garbage",
            "9999999999.forged",
            files.sign("upload", attachment["id"], -10, alice),  # expired
            files.sign("upload", other["id"], 600, alice),  # another attachment's
            files.sign("file", attachment["id"], 600, alice),  # a preview token
            LocalAttachmentStore[Any](tmp_path, secret="guessed").sign("upload", attachment["id"], 600, alice),
        ]
        assert await refused(u, tmp_path, lambda: u.client.put(base, content=b"hello", headers=user)) == 403
        for token in tokens:
            url = f"{base}?token={quote(token)}"
            assert await refused(u, tmp_path, lambda url=url: u.client.put(url, content=b"hello", headers=user)) == 403
        # A valid token signed for another tenant: like any other tenant's attachment, not found.
        url = f"{base}?token={quote(files.sign('upload', attachment['id'], 600, bob))}"
        assert await refused(u, tmp_path, lambda: u.client.put(url, content=b"hello", headers=user)) == 404


@pytest.mark.parametrize(
    "attachment_id",
    ["..%2F..%2Fetc%2Fpasswd", "%2e%2e", ".hidden", "a%00b", "a" * 200, "x.json", "-rf"],
)
async def test_path_traversal_in_ids_is_refused(attachment_id: str, tmp_path: Path) -> None:
    async with uploads(tmp_path) as u:
        user = {"x-user": "alice"}
        token = u.files.sign("upload", attachment_id, 600, u.files.scope_key({"user_id": "alice"}))
        url = f"{u.url}/chatkit/uploads/{attachment_id}?token={quote(token)}"
        status = await refused(u, tmp_path, lambda: u.client.put(url, content=b"hello", headers=user))
        assert status in (403, 404)
        fetched = await u.client.get(f"{u.url}/chatkit/files/{attachment_id}", headers=user)
        assert fetched.status_code == 404


async def test_path_traversal_in_names_stays_inside_the_upload_directory(tmp_path: Path) -> None:
    async with uploads(tmp_path) as u:
        user = {"x-user": "alice"}
        for name in ("../../escape.txt", "/etc/passwd", "..\\..\\win.txt", "a/../../b.txt", "\x00evil.txt"):
            multipart = {"file": (name, b"hello", "text/plain")}
            answer = await u.client.post(f"{u.url}/chatkit/upload", files=multipart, headers=user)
            assert answer.status_code == 200, answer.text
            assert "/" not in answer.json()["name"] and "\\" not in answer.json()["name"]
        outside = [path for path in tree(tmp_path) if not path.startswith(("files", "chatkit.db"))]
        assert outside == []
        # Every file is <tenant>/<attachment id>/<a fixed name>: client names never become paths.
        for path in tree(u.files.root):
            assert len(path.split("/")) <= 3 and path.split("/")[2:] in ([], ["data"], ["meta.json"], ["uploaded"])


async def test_uploading_to_another_users_attachment_is_404(tmp_path: Path) -> None:
    async with uploads(tmp_path) as u:
        attachment = await u.announce("a.txt", "text/plain", 5, user="alice")
        url = attachment["upload_descriptor"]["url"]
        status = await refused(u, tmp_path, lambda: u.client.put(url, content=b"hello", headers={"x-user": "bob"}))
        assert status == 404
        no_user = await refused(u, tmp_path, lambda: u.client.put(url, content=b"hello"))
        assert no_user == 401
        # Alice's own upload still works, once.
        assert (await u.client.put(url, content=b"hello", headers={"x-user": "alice"})).status_code == 200
        again = await refused(u, tmp_path, lambda: u.client.put(url, content=b"again", headers={"x-user": "alice"}))
        assert again == 409
