"""What `ChatKitServer.process` returns: a stream of SSE frames or one JSON document."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from typing import Generic, TypeVar

from pydantic import BaseModel

from chatkit.types import Page, ThreadMetadata
from chatkit.types.wire import WIRE_CONTEXT

T = TypeVar("T")


class StreamingResult(AsyncIterable[T], Generic[T]):
    """An event stream; iterate it for `data: <json>\\n\\n` frames (as `bytes`)."""

    def __init__(self, stream: AsyncGenerator[T, None]) -> None:
        self.json_events = stream

    def __aiter__(self) -> AsyncIterator[T]:
        return self.json_events


class NonStreamingResult:
    """A complete JSON answer, as `bytes` in `.json`."""

    def __init__(self, result: bytes) -> None:
        self.json = result


def encode_json(model: BaseModel) -> bytes:
    """The client-facing JSON of a model: by alias, no `None` fields, no server-only data."""
    return model.__pydantic_serializer__.to_json(model, by_alias=True, exclude_none=True, context=WIRE_CONTEXT)


def encode_event(event: BaseModel) -> bytes:
    """One Server-Sent-Events frame carrying `event`."""
    # Inlined encode_json: this runs once per event of every reply.
    return (
        b"data: "
        + event.__pydantic_serializer__.to_json(event, by_alias=True, exclude_none=True, context=WIRE_CONTEXT)
        + b"\n\n"
    )


_EMPTY_ITEMS = b',"items":{"data":[],"has_more":false}}'


def encode_thread_listing(page: Page[ThreadMetadata]) -> bytes:
    """The JSON of a `threads.list` answer: each thread with an empty item page.

    Byte-for-byte what serializing a `Page[Thread]` gives (`items` is the last field of `Thread`),
    without building a `Thread` per row, which costs more than the whole store query.
    """
    rows = b",".join(encode_json(_metadata_only(thread))[:-1] + _EMPTY_ITEMS for thread in page.data)
    tail = b"" if page.after is None else b',"after":' + json.dumps(page.after).encode()
    return b'{"data":[' + rows + b'],"has_more":' + (b"true" if page.has_more else b"false") + tail + b"}"


def _metadata_only(thread: ThreadMetadata) -> ThreadMetadata:
    """`thread` without an item page of its own: stores may list full `Thread` objects."""
    if "items" not in thread.__dict__:
        return thread
    fields = {name: value for name, value in thread.__dict__.items() if name != "items"}
    return ThreadMetadata.model_construct(**fields)
