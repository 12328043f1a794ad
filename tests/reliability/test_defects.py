"""Regression tests for the defects the reliability suite found, each pinned to the smallest request.

Each test guards a defect already fixed; a defect still open would be a strict xfail here (and
have a matching `KNOWN_DEFECTS` entry in `fuzzing.py`) until its fix lands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatkit.asgi import create_app
from chatkit.attachments import LocalAttachmentStore
from chatkit.server import NonStreamingResult, StreamingResult
from chatkit.store import NotFoundError
from tests.reliability.scripted import CannedServer
from tests.reliability.serving import user_context
from tests.reliability.world import Tenant, seed_tenant, user_input
from tests.stores.backends import PERSISTENT_BACKENDS, make_store

BASE_URL = "http://127.0.0.1/chatkit"


async def two_tenants(server: CannedServer, tmp_path: Path) -> tuple[Tenant, Tenant, LocalAttachmentStore[Any]]:
    """Alice's and Bob's seeded worlds, and the attachment files."""
    files = server.attachment_store
    assert isinstance(files, LocalAttachmentStore)
    return await seed_tenant(server, files, "alice"), await seed_tenant(server, files, "bob"), files


def canned(store: Any, tmp_path: Path) -> CannedServer:
    """The canned server with local attachment files under `tmp_path`."""
    return CannedServer(store, LocalAttachmentStore(tmp_path / "files", secret="s", base_url=BASE_URL), pause=0)


@pytest.mark.parametrize("backend", PERSISTENT_BACKENDS)
async def test_another_users_attachment_delete_leaves_the_file(backend: str, tmp_path: Path) -> None:
    """Found by the fuzzer: Bob's attachments.delete removed Alice's file; fixed in chatkit/server/core.py."""
    async with make_store(backend, tmp_path) as store:
        server = canned(store, tmp_path)
        alice, bob, files = await two_tenants(server, tmp_path)
        request = json.dumps({"type": "attachments.delete", "params": {"attachment_id": alice.attachment}})
        with pytest.raises(NotFoundError):
            await server.process(request, bob.context)
        assert await files.load_file(alice.attachment, files.scope_key(alice.context)) is not None


@pytest.mark.parametrize("backend", PERSISTENT_BACKENDS)
async def test_create_with_someone_elses_attachment_is_a_404_over_http(backend: str, tmp_path: Path) -> None:
    """Found by the fuzzer: a 200 stream cut short after thread.created; the endpoint now checks first."""
    async with make_store(backend, tmp_path) as store:
        server = canned(store, tmp_path)
        alice, bob, _ = await two_tenants(server, tmp_path)
        request = {"type": "threads.create", "params": {"input": user_input("hi", [alice.attachment])}}
        app = create_app(server, context=user_context)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
            answer = await client.post(BASE_URL, json=request, headers={"x-user": "bob"})
        assert answer.status_code == 404, answer.text
        assert len((await store.load_threads(100, None, "asc", bob.context)).data) == len(bob.threads)


@pytest.mark.parametrize("backend", PERSISTENT_BACKENDS)
async def test_create_with_someone_elses_attachment_through_process_fails_after_the_thread(
    backend: str, tmp_path: Path
) -> None:
    """`process()` keeps the reference's order, pinned by the golden transcripts: the thread is created
    and announced, then the unknown attachment raises before the user's message is stored."""
    async with make_store(backend, tmp_path) as store:
        server = canned(store, tmp_path)
        alice, bob, _ = await two_tenants(server, tmp_path)
        request = {"type": "threads.create", "params": {"input": user_input("hi", [alice.attachment])}}
        result = await server.process(json.dumps(request), bob.context)
        assert isinstance(result, StreamingResult)
        frames: list[bytes] = []
        with pytest.raises(NotFoundError):
            async for frame in result:
                frames.append(frame)
        assert [json.loads(frame[6:])["type"] for frame in frames] == ["thread.created"]
        assert (await store.load_attachment(alice.attachment, alice.context)).thread_id is None


@pytest.mark.parametrize("backend", PERSISTENT_BACKENDS)
@pytest.mark.parametrize("request_type", ["threads.list", "items.list"])
async def test_a_huge_page_limit_is_served(backend: str, request_type: str, tmp_path: Path) -> None:
    async with make_store(backend, tmp_path) as store:
        server = canned(store, tmp_path)
        alice, _, _ = await two_tenants(server, tmp_path)
        params: dict[str, Any] = {"limit": 2**63 - 1}
        if request_type == "items.list":
            params["thread_id"] = alice.threads["chat"]
        result = await server.process(json.dumps({"type": request_type, "params": params}), alice.context)
        assert isinstance(result, NonStreamingResult)
        assert json.loads(result.json)["data"]


@pytest.mark.parametrize(
    "body",
    [
        json.dumps({"type": {"a": 1}, "params": {"thread_id": "thr_1"}}).encode(),
        json.dumps({"type": ["threads.create"], "params": {"thread_id": "thr_1"}}).encode(),
        b'{"type": "threads.list", "params": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
    ids=["object_type", "array_type", "deep_nesting"],
)
async def test_a_malformed_request_is_a_400(body: bytes, tmp_path: Path) -> None:
    """Found by the fuzzer (a 500 from the endpoint's peek at the body); fixed in chatkit/asgi/_endpoint.py."""
    async with make_store("sqlite", tmp_path) as store:
        app = create_app(canned(store, tmp_path), context=user_context, max_body_bytes=len(body))
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
            answer = await client.post(BASE_URL, content=body, headers={"x-user": "alice"})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("backend", PERSISTENT_BACKENDS)
async def test_another_users_thread_is_not_found(backend: str, tmp_path: Path) -> None:
    """Found by the isolation tests: threads.delete answered {} for another user's thread; the stores refuse it."""
    async with make_store(backend, tmp_path) as store:
        server = canned(store, tmp_path)
        alice, bob, _ = await two_tenants(server, tmp_path)
        request = next(template for template in alice.templates() if template["type"] == "threads.delete")
        with pytest.raises(NotFoundError):
            await server.process(json.dumps(request), bob.context)


@pytest.mark.parametrize("backend", PERSISTENT_BACKENDS)
@pytest.mark.parametrize("request_type", ["threads.delete", "items.feedback", "attachments.delete"])
async def test_another_users_ids_are_404_over_http(backend: str, request_type: str, tmp_path: Path) -> None:
    """Found by the isolation tests: items.feedback answered {} for another user's thread. `process()` calls only
    the `add_feedback` hook, as the reference does, so the HTTP endpoint checks ownership before calling it."""
    async with make_store(backend, tmp_path) as store:
        server = canned(store, tmp_path)
        alice, _, _ = await two_tenants(server, tmp_path)
        request = next(template for template in alice.templates() if template["type"] == request_type)
        app = create_app(server, context=user_context)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
            answer = await client.post(BASE_URL, json=request, headers={"x-user": "bob"})
        assert answer.status_code == 404, answer.text


@pytest.mark.parametrize("request_type", ["threads.list", "items.list"])
async def test_a_negative_page_limit_gives_a_usable_page(request_type: str, tmp_path: Path) -> None:
    async with make_store("sqlite", tmp_path) as store:
        server = canned(store, tmp_path)
        alice, _, _ = await two_tenants(server, tmp_path)
        params: dict[str, Any] = {"limit": -1}
        if request_type == "items.list":
            params["thread_id"] = alice.threads["chat"]
        try:
            result = await server.process(json.dumps({"type": request_type, "params": params}), alice.context)
        except ValueError:
            return
        assert isinstance(result, NonStreamingResult)
        page = json.loads(result.json)
        assert page["data"] and (not page["has_more"] or page.get("after"))
