"""What a hostile client cannot do over HTTP: cross-site writes, other users' deletes, forged log lines."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from starlette.requests import Request

from chatkit.asgi import HTTPAuthError, create_app
from chatkit.attachments import LocalAttachmentStore
from chatkit.stores import MemoryStore
from chatkit.types import ThreadMetadata
from tests.asgi.conftest import Harness
from tests.asgi.scripted import Context, ScriptedServer
from tests.asgi.test_uploads import png
from tests.http import parse_events, serving, user_message
from tests.stores.reference_style import IdOnlyStore

EVIL = "https://evil.example"
FRIEND = "https://chat.example"


@pytest.fixture
async def h(make_harness: Any) -> Any:
    async with make_harness() as harness:
        yield harness


class Site:
    """An app whose context comes from a session cookie, as a browser sends it to any site's requests."""

    def __init__(self, url: str, server: ScriptedServer, contexts_built: list[str]) -> None:
        self.url = url
        self.server = server
        self.contexts_built = contexts_built
        self.cookies = {"session": "alice"}

    async def threads(self) -> list[str]:
        """Alice's thread ids."""
        page = await self.server.store.load_threads(100, None, "asc", {"user_id": "alice"})
        return [thread.id for thread in page.data]


@asynccontextmanager
async def cookie_site(tmp_path: Path, cors_origins: tuple[str, ...] = (FRIEND,)) -> AsyncIterator[Site]:
    """The scripted app with uploads, serving at a real port; the user is the `session` cookie."""
    contexts_built: list[str] = []

    def from_cookie(request: Request) -> Context:
        user = request.cookies.get("session")
        if user is None:
            raise HTTPAuthError(401, "sign in")
        contexts_built.append(user)
        return {"user_id": user}

    files = LocalAttachmentStore[Any](tmp_path / "files", secret="s", max_bytes=4096)
    server = ScriptedServer(MemoryStore(), files)
    app = create_app(server, context=from_cookie, cors_origins=cors_origins)
    async with serving(app) as url:
        yield Site(url, server, contexts_built)


def multipart(data: bytes, name: str = "a.png", content_type: str = "image/png") -> tuple[bytes, str]:
    """A multipart body with one `file` field, and its content type."""
    boundary = "xyzBOUNDARYxyz"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


async def test_cross_site_writes_are_refused_before_anything_runs(tmp_path: Path) -> None:
    async with cookie_site(tmp_path) as site, httpx.AsyncClient(cookies=site.cookies) as client:
        created = await client.post(f"{site.url}/chatkit", json=user_message("mine"))
        thread_id = parse_events(created.content)[0]["thread"]["id"]
        announced = await client.post(
            f"{site.url}/chatkit",
            json={"type": "attachments.create", "params": {"name": "a.png", "size": 70, "mime_type": "image/png"}},
        )
        upload_url = announced.json()["upload_descriptor"]["url"]
        built = len(site.contexts_built)
        delete = json.dumps({"type": "threads.delete", "params": {"thread_id": thread_id}})
        upload, upload_type = multipart(png())
        attacks = [
            # What an HTML form or a no-CORS fetch on evil.example can send, with Alice's cookie.
            ("POST", "/chatkit", delete, "text/plain"),
            ("POST", "/chatkit", delete, "application/json"),
            ("POST", "/chatkit/upload", upload, upload_type),
            ("PUT", upload_url.removeprefix(site.url), png(), "image/png"),
        ]
        for origin in (EVIL, "null", f"{site.url}.evil.example", site.url.replace("127.0.0.1", "localhost")):
            for method, path, body, content_type in attacks:
                response = await client.request(
                    method, site.url + path, content=body, headers={"origin": origin, "content-type": content_type}
                )
                assert response.status_code == 403, (origin, path, response.text)
                assert response.json()["error"]["code"] == "cross_site_request"
        assert len(site.contexts_built) == built
        assert await site.threads() == [thread_id]
        attachment = await site.server.store.load_attachment(announced.json()["id"], {"user_id": "alice"})
        assert attachment.upload_descriptor is not None  # still waiting for its bytes


TLS = {"x-forwarded-proto": "https"}


async def test_same_origin_allowed_origins_and_proxies_pass(tmp_path: Path) -> None:
    async with cookie_site(tmp_path) as site, httpx.AsyncClient(cookies=site.cookies) as client:
        listing = {"type": "threads.list", "params": {}}
        host = site.url.removeprefix("http://")
        for headers in (
            {"origin": site.url},  # the page the app serves itself
            {"origin": site.url.upper()},
            {"origin": FRIEND},  # in cors_origins
            # TLS at a proxy on loopback, which uvicorn trusts by default
            {"origin": "https://app.example.com", "x-forwarded-host": "app.example.com", **TLS},
            {"origin": "https://app.example.com:8443", "x-forwarded-host": "app.example.com:8443", **TLS},
            {"origin": f"https://{host.partition(':')[0]}:443", "host": host.partition(":")[0], **TLS},
            {},  # not a browser, or a browser that sends no Origin on same-origin requests
        ):
            response = await client.post(f"{site.url}/chatkit", json=listing, headers=headers)
            assert response.status_code == 200, (headers, response.text)
        uploaded = await client.post(
            f"{site.url}/chatkit/upload",
            content=multipart(png())[0],
            headers={"origin": site.url, "content-type": multipart(png())[1]},
        )
        assert uploaded.status_code == 200, uploaded.text


async def test_a_wildcard_cors_origin_allows_every_origin(tmp_path: Path) -> None:
    async with cookie_site(tmp_path, cors_origins=("*",)) as site, httpx.AsyncClient(cookies=site.cookies) as client:
        response = await client.post(
            f"{site.url}/chatkit", json={"type": "threads.list", "params": {}}, headers={"origin": EVIL}
        )
    assert response.status_code == 200


async def test_form_content_types_are_refused_even_without_origin(h: Harness) -> None:
    listing = json.dumps({"type": "threads.list", "params": {}}).encode()
    refused = (
        "text/plain",
        "text/plain; charset=utf-8",
        "application/x-www-form-urlencoded",
        "application/jsonp",
        "application/json, text/plain",
        "application/octet-stream",
    )
    for content_type in refused:
        response = await h.post(listing, headers={"content-type": content_type})
        assert response.status_code == 415, content_type
        assert response.json()["error"]["code"] == "unsupported_media_type"
    for content_type in ("application/json", "application/json; charset=utf-8", "Application/JSON ;charset=UTF-8"):
        assert (await h.post(listing, headers={"content-type": content_type})).status_code == 200
    bare = await h.client.post(f"{h.url}/chatkit", content=listing, headers={"x-user": "alice"})
    assert bare.status_code == 200


class FeedbackServer(ScriptedServer):
    """Records the feedback it is given."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.feedback: list[tuple[str, list[str], str]] = []

    async def add_feedback(
        self, thread_id: str, item_ids: list[str], feedback: Literal["positive", "negative"], context: Context
    ) -> None:
        """Remember the call."""
        self.feedback.append((thread_id, item_ids, feedback))


async def test_another_users_delete_or_feedback_is_404_and_changes_nothing(tmp_path: Path) -> None:
    files = LocalAttachmentStore[Any](tmp_path / "files", secret="s", max_bytes=4096)
    server = FeedbackServer(IdOnlyStore(), files)

    def by_header(request: Request) -> Context:
        return {"user_id": request.headers["x-user"]}

    async with serving(create_app(server, context=by_header)) as url, httpx.AsyncClient() as client:

        async def post(body: dict[str, Any], user: str) -> httpx.Response:
            return await client.post(f"{url}/chatkit", json=body, headers={"x-user": user})

        created = parse_events((await post(user_message("hi"), "alice")).content)
        thread_id, answer_id = created[0]["thread"]["id"], created[-1]["item"]["id"]
        uploaded = await client.post(
            f"{url}/chatkit/upload",
            content=multipart(png())[0],
            headers={"x-user": "alice", "content-type": multipart(png())[1]},
        )
        attachment_id = uploaded.json()["id"]
        feedback = {"thread_id": thread_id, "item_ids": [answer_id], "kind": "negative"}
        requests = [
            {"type": "items.feedback", "params": feedback},
            {"type": "attachments.delete", "params": {"attachment_id": attachment_id}},
            {"type": "threads.delete", "params": {"thread_id": thread_id}},
        ]
        for request in requests:
            for user in ("bob", "alice"):
                unknown = json.loads(
                    json.dumps(request).replace(thread_id, "thr_unknown").replace(attachment_id, "atc_unknown")
                )
                response = await post(unknown, user)
                assert response.status_code == 404, (user, response.text)
            response = await post(request, "bob")
            assert response.status_code == 404, (request["type"], response.text)
            assert response.json()["error"]["code"] == "not_found"
        assert server.feedback == []
        assert (await client.get(f"{url}/chatkit/files/{attachment_id}", headers={"x-user": "alice"})).content == png()
        assert await server.store.load_thread(thread_id, {"user_id": "alice"})
        # Alice herself may.
        for request in requests:
            assert (await post(request, "alice")).status_code == 200, request["type"]
        assert server.feedback == [(thread_id, [answer_id], "negative")]


class DeleteOnlyStore(MemoryStore):
    """A store that can delete threads but never load one on its own (as some written for the reference)."""

    async def load_thread(self, thread_id: str, context: Context) -> ThreadMetadata:
        """Not supported here."""
        raise NotImplementedError("this store only lists and deletes")


async def test_a_store_that_cannot_load_still_deletes_over_http() -> None:
    store = DeleteOnlyStore()
    await store.save_thread(ThreadMetadata(id="thr_1", created_at=datetime.now()), {"user_id": "alice"})
    server = FeedbackServer(store)
    app = create_app(server, context=lambda request: {"user_id": request.headers["x-user"]})
    async with serving(app) as url, httpx.AsyncClient() as client:
        headers = {"x-user": "alice"}
        response = await client.post(
            f"{url}/chatkit", json={"type": "threads.delete", "params": {"thread_id": "thr_1"}}, headers=headers
        )
        assert response.status_code == 200, response.text
        feedback = {"thread_id": "thr_1", "item_ids": ["msg_1"], "kind": "positive"}
        response = await client.post(
            f"{url}/chatkit", json={"type": "items.feedback", "params": feedback}, headers=headers
        )
        assert response.status_code == 200, response.text
    assert (await store.load_threads(10, None, "desc", {"user_id": "alice"})).data == []
    assert server.feedback == [("thr_1", ["msg_1"], "positive")]


async def test_control_characters_never_reach_the_access_log(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    forged = "threads.list\nINFO chatkit.access POST /chatkit threads.delete 200 0.1ms"
    with caplog.at_level(logging.INFO, logger="chatkit.access"):
        await h.post({"type": "threads.get_by_id", "params": {"thread_id": "thr_1\r\nx\u2028y\x1b[31m"}})
        await h.post({"type": "threads.list", "params": {}, "x": "y" * 10_000}, headers={})
        await h.client.post(f"{h.url}/chatkit/%0Aforged", headers={"x-user": "alice"})
        await h.post({"type": forged, "params": {}})
    records = [record for record in caplog.records if record.name == "chatkit.access"]
    assert len(records) == 4
    for record in records:
        line = logging.Formatter("%(levelname)s %(name)s %(message)s").format(record)
        assert "\n" not in line and "\r" not in line and "\x1b" not in line and "\u2028" not in line, line
    assert records[0].__dict__["chatkit_request_type"] == "threads.get_by_id"
    assert records[0].__dict__["chatkit_thread_id"] == "thr_1\\x0d\\x0ax\\u2028y\\x1b[31m"
    assert records[2].__dict__["http_path"] == "/chatkit/\\x0aforged"
    # Only a validated request type is recorded: a forged one never reaches the log.
    assert records[3].__dict__["chatkit_request_type"] is None


async def test_a_huge_accept_language_is_read_only_at_its_start(make_harness: Any) -> None:
    seen: list[Any] = []
    async with make_harness() as h:
        original = h.server.store.load_threads

        async def spy(limit: int, after: str | None, order: str, context: Any) -> Any:
            seen.append(context["locale"])
            return await original(limit, after, order, context)

        h.server.store.load_threads = spy  # type: ignore[method-assign]
        listing = {"type": "threads.list", "params": {}}
        # The preferred language is past the first kilobyte: never read.
        await h.post(listing, headers={"accept-language": "fr;q=0.2," * 200 + "de;q=0.9"})
        # Half a megabyte of entries (uvicorn's httptools parser takes any size) costs no parsing time.
        flood = "en;q=0.5," * 60_000
        started = time.perf_counter()
        response = await h.post(listing, headers={"accept-language": flood})
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert seen == ["fr", "en"]
    assert elapsed < 0.5
