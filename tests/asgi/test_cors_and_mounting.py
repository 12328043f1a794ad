"""CORS with preflight, mounting under a prefix, and OpenTelemetry spans."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from chatkit.asgi import create_app
from chatkit.attachments import LocalAttachmentStore
from chatkit.stores import MemoryStore
from tests.asgi.conftest import Harness, user_context
from tests.asgi.scripted import ScriptedServer
from tests.asgi.test_uploads import png
from tests.http import parse_events, serving, user_message

ORIGIN = "https://chat.example"


@pytest.fixture
async def h(make_harness: Any) -> Any:
    async with make_harness(cors_origins=[ORIGIN]) as harness:
        yield harness


async def test_preflight_from_an_allowed_origin(h: Harness) -> None:
    for path, method in (("/chatkit", "POST"), ("/chatkit/uploads/atc_1", "PUT"), ("/chatkit/upload", "POST")):
        response = await h.client.options(
            f"{h.url}{path}",
            headers={
                "origin": ORIGIN,
                "access-control-request-method": method,
                "access-control-request-headers": "content-type, authorization, x-user",
            },
        )
        assert response.status_code == 200, path
        assert response.headers["access-control-allow-origin"] == ORIGIN
        assert method in response.headers["access-control-allow-methods"]
        assert "authorization" in response.headers["access-control-allow-headers"].lower()
        assert response.headers["access-control-allow-credentials"] == "true"


async def test_preflight_from_another_origin_is_refused(h: Harness) -> None:
    response = await h.client.options(
        f"{h.url}/chatkit", headers={"origin": "https://evil.example", "access-control-request-method": "POST"}
    )
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers


async def test_responses_carry_cors_headers(h: Harness) -> None:
    plain = await h.post({"type": "threads.list", "params": {}}, headers={"origin": ORIGIN})
    assert plain.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in plain.headers["access-control-expose-headers"].lower()
    streamed = await h.post(user_message("hi"), headers={"origin": ORIGIN})
    assert streamed.headers["access-control-allow-origin"] == ORIGIN
    assert streamed.headers["content-type"].startswith("text/event-stream")
    uploaded = await h.client.post(
        f"{h.url}/chatkit/upload",
        files={"file": ("a.png", png(), "image/png")},
        headers={"x-user": "alice", "origin": ORIGIN},
    )
    preview = await h.client.get(uploaded.json()["preview_url"], headers={"origin": ORIGIN})
    assert preview.status_code == 200
    assert preview.headers["access-control-allow-origin"] == ORIGIN


async def test_wildcard_origin_without_credentials(make_harness: Any) -> None:
    async with make_harness(cors_origins=["*"]) as h:
        response = await h.client.options(
            f"{h.url}/chatkit", headers={"origin": "https://any.example", "access-control-request-method": "POST"}
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in response.headers


async def test_no_cors_headers_unless_configured(make_harness: Any) -> None:
    async with make_harness() as h:
        response = await h.post({"type": "threads.list", "params": {}}, headers={"origin": ORIGIN})
    assert "access-control-allow-origin" not in response.headers


async def test_mounted_under_a_prefix(files: LocalAttachmentStore[Any]) -> None:
    server = ScriptedServer(MemoryStore(), files)
    outer = Starlette(routes=[Mount("/api", app=create_app(server, context=user_context, path="/kit"))])
    async with serving(outer) as url, httpx.AsyncClient() as client:
        headers = {"x-user": "alice"}
        created = await client.post(
            f"{url}/api/kit",
            json={"type": "attachments.create", "params": {"name": "a.png", "size": 100, "mime_type": "image/png"}},
            headers=headers,
        )
        attachment = created.json()
        assert attachment["upload_descriptor"]["url"].startswith(f"{url}/api/kit/uploads/{attachment['id']}?token=")
        assert attachment["preview_url"].startswith(f"{url}/api/kit/files/{attachment['id']}?token=")
        uploaded = await client.put(attachment["upload_descriptor"]["url"], content=png(), headers=headers)
        assert uploaded.status_code == 200
        assert (await client.get(attachment["preview_url"])).content == png()
        streamed = await client.post(f"{url}/api/kit", json=user_message("hi"), headers=headers)
        assert streamed.status_code == 200 and streamed.content.startswith(b"data: ")


async def test_opentelemetry_spans(make_harness: Any) -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    async with make_harness() as h:
        response = await h.post(user_message("hi"), headers={"x-request-id": "span-test"})
        missing = await h.post({"type": "threads.get_by_id", "params": {"thread_id": "thr_x"}})
    spans = [span for span in exporter.get_finished_spans() if span.name.startswith("chatkit ")]
    assert [span.name for span in spans] == ["chatkit threads.create", "chatkit threads.get_by_id"]
    created, failed = spans
    assert created.attributes is not None and failed.attributes is not None
    assert created.attributes["chatkit.request_id"] == "span-test"
    assert created.attributes["http.response.status_code"] == response.status_code == 200
    # The new thread's id, from its first frame.
    assert created.attributes["chatkit.thread_id"] == parse_events(response.content)[0]["thread"]["id"]
    assert failed.attributes["chatkit.thread_id"] == "thr_x"
    assert created.attributes["chatkit.outcome"] == "completed"
    assert failed.attributes["http.response.status_code"] == missing.status_code == 404
    assert failed.attributes["chatkit.outcome"] == "not_found"
