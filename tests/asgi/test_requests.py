"""Every request type and every error mapping of `POST /chatkit`, over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from chatkit.asgi import create_app
from chatkit.server import ChatKitServer
from chatkit.stores import MemoryStore
from tests.asgi.conftest import Harness, user_context
from tests.asgi.scripted import ScriptedServer
from tests.http import parse_events, serving, user_message


@pytest.fixture
async def h(make_harness: Any) -> Any:
    async with make_harness() as harness:
        yield harness


async def test_threads_create_streams_server_sent_events(h: Harness) -> None:
    response, events = await h.stream(user_message("hi"))
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-accel-buffering"] == "no"
    assert "content-length" not in response.headers
    assert [event["type"] for event in events] == [
        "thread.created",
        "thread.item.done",
        "stream_options",
        "thread.item.added",
        *["thread.item.updated"] * 6,
        "thread.item.done",
    ]
    assert events[-1]["item"]["content"][0]["text"] == "hi:0 hi:1 hi:2 hi:3 hi:4 "


async def test_frames_arrive_while_the_turn_is_still_running(h: Harness) -> None:
    thread_id = await h.new_thread()
    received = b""
    async with h.client.stream(
        "POST", f"{h.url}/chatkit", json=user_message("hold on", thread_id), headers={"x-user": "alice"}
    ) as response:
        chunks = response.aiter_raw()
        while b"hold on:3" not in received:
            received += await asyncio.wait_for(anext(chunks), 5)
        # The responder is parked before its last word: everything so far was sent without buffering.
        assert h.server.turns_finished == 1
        h.server.release.set()
        async for chunk in chunks:
            received += chunk
    assert parse_events(received)[-1]["item"]["content"][0]["text"].endswith("hold on:4 ")


async def test_add_user_message_then_plain_requests(h: Harness) -> None:
    thread_id = await h.new_thread("first")
    response, events = await h.stream(user_message("second", thread_id))
    assert response.status_code == 200
    assert events[0]["type"] == "thread.item.done" and events[0]["item"]["type"] == "user_message"

    thread = (await h.post({"type": "threads.get_by_id", "params": {"thread_id": thread_id}})).json()
    assert thread["id"] == thread_id
    assert [item["type"] for item in thread["items"]["data"]] == ["user_message", "assistant_message"] * 2

    threads = (await h.post({"type": "threads.list", "params": {"limit": 5}})).json()
    assert [thread["id"] for thread in threads["data"]] == [thread_id]

    items = (await h.post({"type": "items.list", "params": {"thread_id": thread_id, "limit": 3}})).json()
    assert len(items["data"]) == 3 and items["has_more"] is True

    updated = await h.post({"type": "threads.update", "params": {"thread_id": thread_id, "title": "Named"}})
    assert updated.status_code == 200 and updated.json()["title"] == "Named"

    item_id = thread["items"]["data"][1]["id"]
    feedback = await h.post(
        {"type": "items.feedback", "params": {"thread_id": thread_id, "item_ids": [item_id], "kind": "positive"}}
    )
    assert feedback.status_code == 200 and feedback.json() == {}

    retried, events = await h.stream(
        {
            "type": "threads.retry_after_item",
            "params": {"thread_id": thread_id, "item_id": thread["items"]["data"][0]["id"]},
        }
    )
    assert retried.status_code == 200
    assert events[0]["type"] == "stream_options"
    assert len(await h.items(thread_id)) == 2

    deleted = await h.post({"type": "threads.delete", "params": {"thread_id": thread_id}})
    assert deleted.status_code == 200 and deleted.json() == {}
    gone = await h.post({"type": "threads.get_by_id", "params": {"thread_id": thread_id}})
    assert gone.status_code == 404


async def test_client_tool_output_and_structured_input(h: Harness) -> None:
    thread_id = await h.new_thread("use a tool")
    response, events = await h.stream(
        {"type": "threads.add_client_tool_output", "params": {"thread_id": thread_id, "result": {"color": "red"}}}
    )
    assert response.status_code == 200
    assert events[0]["type"] == "stream_options"
    stored = await h.items(thread_id)
    assert stored[1]["type"] == "client_tool_call" and stored[1]["status"] == "completed"

    await h.stream(user_message("ask me", thread_id))
    question = (await h.items(thread_id))[-1]
    assert question["type"] == "structured_input"
    response, events = await h.stream(
        {
            "type": "threads.add_structured_input",
            "params": {
                "thread_id": thread_id,
                "item_id": question["id"],
                "input": {"status": "answered", "answers": {"q1": {"values": ["because"]}}},
            },
        }
    )
    assert response.status_code == 200
    assert [event["type"] for event in events][:2] == ["stream_options", "thread.item.replaced"]


async def test_widget_actions_stream_and_sync(h: Harness) -> None:
    thread_id = await h.new_thread("show a widget")
    widget_id = (await h.items(thread_id))[-1]["id"]
    action = {"type": "press", "payload": {"n": 1}}
    response, events = await h.stream(
        {"type": "threads.custom_action", "params": {"thread_id": thread_id, "item_id": widget_id, "action": action}}
    )
    assert response.status_code == 200
    assert events[-1]["item"]["widget"]["children"][0]["value"] == "did press"

    synced = await h.post(
        {
            "type": "threads.sync_custom_action",
            "params": {"thread_id": thread_id, "item_id": widget_id, "action": action},
        }
    )
    assert synced.status_code == 200
    assert synced.json()["updated_item"]["widget"]["children"][0]["value"] == "synced press"


async def test_transcribe(h: Harness) -> None:
    audio = base64.b64encode(b"\x00" * 10).decode()
    response = await h.post(
        {"type": "input.transcribe", "params": {"audio_base64": audio, "mime_type": "audio/webm;codecs=opus"}}
    )
    assert response.status_code == 200
    assert response.json() == {"text": "10 bytes of audio/webm"}


# -- errors -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code", "needle"),
    [
        (b"{not json", 400, "invalid_request", "Invalid JSON"),
        (b"[1, 2]", 400, "invalid_request", ""),
        ({"type": "threads.explode", "params": {}}, 400, "invalid_request", "threads.explode"),
        ({"type": "threads.get_by_id", "params": {}}, 400, "invalid_request", "thread_id"),
        ({"type": "threads.get_by_id", "params": {"thread_id": "thr_missing"}}, 404, "not_found", "thr_missing"),
        ({"type": "items.list", "params": {"thread_id": "thr_missing"}}, 404, "not_found", ""),
    ],
)
async def test_plain_request_errors(h: Harness, body: Any, status: int, code: str, needle: str) -> None:
    response = await h.post(body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert needle in error["message"]
    assert error["request_id"] == response.headers["x-request-id"]


async def test_our_refusals_are_400_with_their_reason(h: Harness) -> None:
    thread_id = await h.new_thread("hello")
    reply_id = (await h.items(thread_id))[-1]["id"]
    retry = await h.post({"type": "threads.retry_after_item", "params": {"thread_id": thread_id, "item_id": reply_id}})
    assert retry.status_code == 400, retry.text
    assert retry.json()["error"]["code"] == "invalid_request"
    assert "is not a user message" in retry.json()["error"]["message"]
    audio = await h.post({"type": "input.transcribe", "params": {"audio_base64": "a", "mime_type": "audio/ogg"}})
    assert (audio.status_code, audio.json()["error"]["code"]) == (400, "invalid_request")


@pytest.mark.parametrize(
    "error",
    [
        ValueError("key sk-secret is invalid"),
        ValidationError.from_exception_data("sk-secret", []),
        KeyError("sk-secret"),
    ],
)
async def test_a_hook_failure_is_a_logged_500_that_tells_nothing(
    make_harness: Any, caplog: pytest.LogCaptureFixture, error: Exception
) -> None:
    async def failing(*args: Any) -> None:
        raise error

    async with make_harness() as h:
        h.server.add_feedback = failing  # type: ignore[method-assign]
        thread_id = await h.new_thread("hello")
        with caplog.at_level(logging.ERROR, logger="chatkit"):
            response = await h.post(
                {"type": "items.feedback", "params": {"thread_id": thread_id, "item_ids": ["x"], "kind": "positive"}}
            )
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "sk-secret" not in response.text
    assert any(record.exc_info is not None and record.exc_info[1] is error for record in caplog.records)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"null",
        b'"threads.list"',
        b"\xff\xfe{}",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"type": null}',
        b'{"type": {"a": 1}, "params": {"thread_id": "thr_1"}}',
        b'{"type": ["threads.create"], "params": {"thread_id": "thr_1"}}',
        b'{"type": "threads.add_user_message", "params": ["thr_1"]}',
        b'{"type": "threads.create"}',
        b'{"type": "threads.create", "params": {"input": null}}',
        b'{"type": "threads.add_user_message", "params": {"thread_id": 5, "input": {}}}',
        b'{"type": "threads.list", "params": {"limit": -1, "order": "sideways"}}',
        b'{"type": "input.transcribe", "params": {"audio_base64": "a", "mime_type": "audio/ogg"}}',
        b'{"type": "items.feedback", "params": {"thread_id": "t", "item_ids": "x", "kind": "meh"}}',
    ],
)
async def test_bad_input_is_never_a_server_error(h: Harness, body: bytes) -> None:
    response = await h.post(body)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_request"


async def test_validation_errors_name_the_problem(h: Harness) -> None:
    response = await h.post({"type": "threads.list", "params": {"limit": "many"}})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["details"][0]["loc"][-1] == "limit"
    assert "limit" in error["message"]


async def test_streaming_requests_in_a_wrong_state_answer_json_not_a_stream(h: Harness) -> None:
    missing = await h.post(user_message("hi", "thr_missing"))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/json"

    thread_id = await h.new_thread()
    no_tool = await h.post(
        {"type": "threads.add_client_tool_output", "params": {"thread_id": thread_id, "result": None}}
    )
    assert no_tool.status_code == 400
    assert "no pending client tool call" in no_tool.json()["error"]["message"]

    user_item = (await h.items(thread_id))[1]["id"]
    not_pending = await h.post(
        {
            "type": "threads.add_structured_input",
            "params": {"thread_id": thread_id, "item_id": user_item, "input": {"status": "skipped", "answers": {}}},
        }
    )
    assert not_pending.status_code == 400


async def test_body_over_the_limit_is_413(make_harness: Any) -> None:
    async with make_harness(max_body_bytes=2000) as h:
        big = user_message("x" * 3000)
        response = await h.post(big)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"

        # Without a Content-Length the limit still holds while reading.
        async def chunks() -> Any:
            for _ in range(4):
                yield b" " * 1000

        chunked = await h.client.post(f"{h.url}/chatkit", content=chunks(), headers={"x-user": "alice"})
        assert chunked.status_code == 413


async def test_context_builder_refusals(h: Harness) -> None:
    anonymous = await h.client.post(f"{h.url}/chatkit", json={"type": "threads.list", "params": {}})
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "X-User"
    assert anonymous.json()["error"] == {
        "code": "unauthorized",
        "message": "who are you?",
        "request_id": anonymous.headers["x-request-id"],
    }
    forbidden = await h.post({"type": "threads.list", "params": {}}, user="mallory")
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "forbidden"


async def test_threads_are_scoped_to_the_caller(h: Harness) -> None:
    thread_id = await h.new_thread()
    other = await h.post({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}, user="bob")
    assert other.status_code == 404


async def test_context_builder_sees_the_locale(make_harness: Any) -> None:
    seen: list[Any] = []

    async with make_harness() as h:
        original = h.server.store.load_threads

        async def spy(limit: int, after: str | None, order: str, context: Any) -> Any:
            seen.append(context)
            return await original(limit, after, order, context)

        h.server.store.load_threads = spy  # type: ignore[method-assign]
        await h.post({"type": "threads.list", "params": {}}, headers={"accept-language": "de-CH, fr;q=0.9, en;q=0.8"})
        await h.post({"type": "threads.list", "params": {}}, headers={"accept-language": "en;q=0.5, pt-BR"})
    assert [context["locale"] for context in seen] == ["de-CH", "pt-BR"]


async def test_unimplemented_hooks_are_501(make_harness: Any) -> None:
    async with make_harness() as h:
        # The ChatKitServer default, which the scripted server overrides.
        h.server.transcribe = functools.partial(ChatKitServer.transcribe, h.server)  # type: ignore[method-assign]
        response = await h.post({"type": "input.transcribe", "params": {"audio_base64": "", "mime_type": "audio/ogg"}})
    assert response.status_code == 501
    assert response.json()["error"]["code"] == "not_implemented"


async def test_only_post_is_allowed(h: Harness) -> None:
    response = await h.client.get(f"{h.url}/chatkit")
    assert response.status_code == 405


async def test_request_ids_and_the_access_log(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="chatkit.access"):
        echoed = await h.post({"type": "threads.list", "params": {}}, headers={"x-request-id": "req-123"})
        generated = await h.post({"type": "threads.list", "params": {}}, headers={"x-request-id": "bad id!"})
        thread_id = await h.new_thread()
    assert echoed.headers["x-request-id"] == "req-123"
    assert generated.headers["x-request-id"] not in ("", "bad id!")
    records = [record for record in caplog.records if record.name == "chatkit.access"]
    assert len(records) == 3
    first, _, streamed = records
    assert first.__dict__["request_id"] == "req-123"
    assert first.__dict__["http_status"] == 200
    assert first.__dict__["chatkit_request_type"] == "threads.list"
    assert first.__dict__["duration_ms"] >= 0
    assert streamed.__dict__["chatkit_request_type"] == "threads.create"
    assert streamed.__dict__["chatkit_outcome"] == "completed"
    assert streamed.__dict__["bytes_sent"] > 0
    assert thread_id.startswith("thr_")


async def test_an_id_taken_within_the_tenant_is_a_409_and_overwrites_nothing(h: Harness) -> None:
    thread_id = await h.new_thread("first")
    # A generator that repeats itself (a custom one, or a broken random source) reuses the id.
    h.store.generate_thread_id = lambda context: thread_id  # type: ignore[method-assign]
    response = await h.post(user_message("second"))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert [item["type"] for item in await h.items(thread_id)] == ["user_message", "assistant_message"]


async def test_an_upload_to_a_server_without_an_attachment_store_is_a_400_that_says_so() -> None:
    app = create_app(ScriptedServer(MemoryStore()), context=user_context)
    request = {"type": "attachments.create", "params": {"name": "photo.png", "size": 10, "mime_type": "image/png"}}
    async with serving(app) as url, httpx.AsyncClient() as client:
        response = await client.post(f"{url}/chatkit", json=request, headers={"x-user": "alice"})
    assert response.status_code == 400
    assert "does not accept attachments" in response.json()["error"]["message"]


async def test_the_capabilities_say_what_the_server_supports(make_harness: Any) -> None:
    bare = create_app(ScriptedServer(MemoryStore()), context=user_context)
    async with serving(bare) as url, httpx.AsyncClient() as client:
        without = (await client.get(f"{url}/chatkit/capabilities")).json()
    async with make_harness() as h:
        response = await h.client.get(f"{h.url}/chatkit/capabilities")
    # No context is built: a page asks before anyone signed in.
    assert response.status_code == 200
    assert response.json() == {
        "attachments": {"upload": ["two_phase", "direct"]},
        "transcription": True,
        "stop": True,
        "rejoin": True,
    }
    assert without["attachments"] is None
