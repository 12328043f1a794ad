"""How threads, items and attachments are turned into JSON text and back."""

from __future__ import annotations

import json
from typing import Any

from pydantic import TypeAdapter

from chatkit.types import Attachment, ThreadItem, ThreadMetadata

_ITEM: TypeAdapter[ThreadItem] = TypeAdapter(ThreadItem)
_ATTACHMENT: TypeAdapter[Attachment] = TypeAdapter(Attachment)
# A full `Thread` carries a page of items; only the metadata fields are stored.
_THREAD_FIELDS: set[str] = set(ThreadMetadata.model_fields)


def dump_thread(thread: ThreadMetadata) -> str:
    """The stored form of a thread: its metadata fields only."""
    return thread.model_dump_json(include=_THREAD_FIELDS)


def load_thread(data: str | bytes) -> ThreadMetadata:
    """A thread from its stored form."""
    return ThreadMetadata.model_validate_json(data)


def dump_item(item: Any) -> str:
    """The stored form of a thread item."""
    return _ITEM.dump_json(item).decode()


def load_item(data: str | bytes) -> ThreadItem:
    """A thread item from its stored form."""
    return _ITEM.validate_json(data)


def dump_attachment(attachment: Any) -> str:
    """The stored form of an attachment record."""
    return _ATTACHMENT.dump_json(attachment).decode()


def load_attachment(data: str | bytes) -> Attachment:
    """An attachment record from its stored form."""
    return _ATTACHMENT.validate_json(data)


def same_identity(stored: str | bytes, new: str | bytes) -> bool:
    """Whether two stored rows are one thread or item: the same creation time and kind.

    An update keeps both; a different row that happens to reuse the id almost never does.
    """
    old_fields, new_fields = json.loads(stored), json.loads(new)
    return all(old_fields.get(name) == new_fields.get(name) for name in ("created_at", "type"))
