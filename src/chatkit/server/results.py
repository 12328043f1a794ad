"""What `ChatKitServer.process` returns: a stream of SSE frames or one JSON document."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator
from typing import Generic, TypeVar

from pydantic import BaseModel

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
    return b"data: " + encode_json(event) + b"\n\n"
