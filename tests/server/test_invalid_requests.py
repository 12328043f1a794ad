"""Malformed and invalid requests are refused with a ValidationError and write nothing."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from tests.server.scripted import ALICE, Context, ResponderServer, call, request, stream, user_input

from chatkit.errors import ChatKitError, CustomStreamError, InvalidRequestError, StreamError
from chatkit.server.core import Dispatcher
from chatkit.server.requests import parse_request
from chatkit.store import NotFoundError, Store

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
    server = ResponderServer(store)
    with pytest.raises(ValidationError):
        await server.process(body, ALICE)
    assert (await store.load_threads(10, None, "asc", ALICE)).data == []
    assert server.calls == []


async def test_numeric_strings_are_coerced_and_unknown_keys_ignored(store: Store[Context]) -> None:
    server = ResponderServer(store)
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
    result = await ResponderServer(store).process(body, ALICE)
    assert json.loads(result.json) == {"data": [], "has_more": False}  # type: ignore[union-attr]


async def test_refusals_are_plain_value_errors_from_process_and_typed_for_the_http_layer(store: Store[Context]) -> None:
    server = ResponderServer(store)
    body = request("input.transcribe", audio_base64="a", mime_type="audio/ogg")
    with pytest.raises(ValueError) as raised:
        await server.process(body, ALICE)
    # The reference's own exception, which code written for it may catch by name.
    assert not isinstance(raised.value, ChatKitError)
    with pytest.raises(InvalidRequestError, match="base64"):
        await Dispatcher(server, refusal=InvalidRequestError).run(parse_request(body), ALICE)


def test_one_error_tree_with_the_http_answer_on_the_class() -> None:
    from chatkit.stores import IdConflictError, ScopeError, StoreError, StoreUnavailableError

    for error in (NotFoundError, StreamError, CustomStreamError, StoreError, InvalidRequestError):
        assert issubclass(error, ChatKitError)
    assert issubclass(ScopeError, ValueError) and issubclass(InvalidRequestError, ValueError)
    answers = {cls: (cls.http_status, cls.http_code) for cls in (NotFoundError, IdConflictError, StoreUnavailableError)}
    assert answers == {
        NotFoundError: (404, "not_found"),
        IdConflictError: (409, "conflict"),
        StoreUnavailableError: (503, "unavailable"),
    }
    assert "db.internal" not in StoreUnavailableError("cannot reach db.internal:5432").public_message()
