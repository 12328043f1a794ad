"""Sample data for the store tests: every thread item kind, taken from the golden transcripts."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import cache
from typing import Any, get_args

from pydantic import TypeAdapter, ValidationError

from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    InferenceOptions,
    ThreadItem,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)
from tests.spec import SPEC_DATA

GOLDEN = SPEC_DATA / "golden"
FIXED_TIME = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
ITEM_ADAPTER: TypeAdapter[ThreadItem] = TypeAdapter(ThreadItem)
ITEM_KINDS: set[str] = {member.model_fields["type"].default for member in get_args(get_args(ThreadItem)[0])}


def _fill_placeholders(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _fill_placeholders(inner) for key, inner in value.items()}  # pyright: ignore[reportUnknownVariableType]
    if isinstance(value, list):
        return [_fill_placeholders(inner) for inner in value]  # pyright: ignore[reportUnknownVariableType]
    if value == "<ts>":
        return FIXED_TIME.isoformat()
    if value == "<seconds>":
        return 3
    return value


def _item_dicts(value: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if isinstance(value, dict):
        if {"id", "thread_id", "created_at", "type"} <= value.keys():
            found.append(value)  # pyright: ignore[reportUnknownArgumentType]
        for inner in value.values():  # pyright: ignore[reportUnknownVariableType]
            found.extend(_item_dicts(inner))
    elif isinstance(value, list):
        for inner in value:  # pyright: ignore[reportUnknownVariableType]
            found.extend(_item_dicts(inner))
    return found


@cache
def golden_items() -> list[dict[str, Any]]:
    """Every distinct thread item found in the golden transcripts, as JSON-ready dicts."""
    seen: dict[str, dict[str, Any]] = {}
    for path in sorted(GOLDEN.glob("*.jsonl")):
        for line in path.read_text().splitlines():
            for raw in _item_dicts(json.loads(line)):
                try:
                    item = ITEM_ADAPTER.validate_python(_fill_placeholders(raw))
                except ValidationError:
                    continue  # a partial item inside an event, not a stored one
                seen.setdefault(item.model_dump_json(), item.model_dump(mode="json"))
    return list(seen.values())


def item_for(thread_id: str, item_id: str, data: dict[str, Any]) -> ThreadItem:
    """A golden item re-homed into `thread_id` under `item_id`."""
    return ITEM_ADAPTER.validate_python({**data, "id": item_id, "thread_id": thread_id})


def thread(thread_id: str, title: str | None = None) -> ThreadMetadata:
    """A thread's metadata, created at a fixed time (so creation times tie)."""
    return ThreadMetadata(id=thread_id, title=title, created_at=FIXED_TIME)


def user_message(thread_id: str, item_id: str, text: str = "hello") -> UserMessageItem:
    """A plain user message."""
    return UserMessageItem(
        id=item_id,
        thread_id=thread_id,
        created_at=FIXED_TIME,
        content=[UserMessageTextContent(text=text)],
        attachments=[],
        inference_options=InferenceOptions(),
    )


def assistant_message(thread_id: str, item_id: str, text: str = "hi") -> AssistantMessageItem:
    """A plain assistant message."""
    return AssistantMessageItem(
        id=item_id, thread_id=thread_id, created_at=FIXED_TIME, content=[AssistantMessageContent(text=text)]
    )
