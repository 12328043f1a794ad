"""Malformed and invalid requests are refused with a ValidationError and write nothing."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from tests.server.scripted import ALICE, Context, ScriptedServer, call, request, stream, user_input

from chatkit.store import Store

INVALID = [
    b"",
    b"{not json",
    b"[]",
    b'"a string"',
    b"\xff\xfe invalid utf-8",
    json.dumps({"params": {}}).encode(),
    request("threads.explode"),
    json.dumps({"type": "threads.get_by_id"}).encode(),
    request("threads.get_by_id"),
    request("threads.get_by_id", thread_id=42),
    request("threads.list", limit="ten"),
    request("threads.list", order="sideways"),
    request("items.feedback", thread_id="t", item_ids=[], kind="meh"),
    request("threads.update", thread_id="t"),
    request("threads.create", input={"content": "just a string", "attachments": [], "inference_options": {}}),
    request("threads.create", input={"content": [{"type": "input_text", "text": "x"}], "attachments": []}),
    request("threads.custom_action", thread_id="t", action={"payload": 1}),
    json.dumps({"type": "threads.list", "params": {}, "metadata": "not an object"}).encode(),
    b'{"type": "threads.list", "params": {"limit": 1e400}}',
    b"[" * 10_000 + b"]" * 10_000,
]


@pytest.mark.parametrize("body", INVALID, ids=range(len(INVALID)))
async def test_invalid_requests_raise_validation_errors_and_write_nothing(store: Store[Context], body: bytes) -> None:
    server = ScriptedServer(store)
    with pytest.raises(ValidationError):
        await server.process(body, ALICE)
    assert (await store.load_threads(10, None, "asc", ALICE)).data == []
    assert server.calls == []


async def test_numeric_strings_are_coerced_and_unknown_keys_ignored(store: Store[Context]) -> None:
    server = ScriptedServer(store)
    body = {
        "type": "threads.create",
        "params": {"input": user_input("Hi"), "extra": 1},
        "unknown": True,
        "metadata": {},
    }
    events = await stream(server, json.dumps(body).encode())
    assert events[0]["type"] == "thread.created"
    page = await call(server, request("threads.list", limit="1", order="asc"))
    assert len(page["data"]) == 1


@pytest.mark.parametrize("body_type", [bytes, str, bytearray])
async def test_body_may_be_bytes_str_or_bytearray(store: Store[Context], body_type: type) -> None:
    raw = request("threads.list").decode()
    body = {bytes: raw.encode(), str: raw, bytearray: bytearray(raw.encode())}[body_type]
    result = await ScriptedServer(store).process(body, ALICE)
    assert json.loads(result.json) == {"data": [], "has_more": False}  # type: ignore[union-attr]
