"""Storage interfaces: where threads, items and attachments live.

`Store` keeps threads, items and attachment records; `AttachmentStore` handles the bytes of
attachments (upload URLs, deletion). Every call receives the request context, so an
implementation can scope data to the caller. Ready implementations: `chatkit.stores`.
"""

from __future__ import annotations

import secrets
from abc import ABC, abstractmethod
from typing import Generic, Literal, TypeVar

from chatkit.errors import ChatKitError
from chatkit.types import (
    Attachment,
    AttachmentCreateParams,
    Page,
    ThreadItem,
    ThreadMetadata,
)

TContext = TypeVar("TContext")

StoreItemType = Literal["thread", "message", "tool_call", "task", "workflow", "attachment", "sdk_hidden_context"]

_ID_PREFIXES: dict[str, str] = {
    "thread": "thr",
    "message": "msg",
    "tool_call": "tc",
    "workflow": "wf",
    "task": "tsk",
    "attachment": "atc",
    "sdk_hidden_context": "shcx",
}


def default_generate_id(item_type: StoreItemType) -> str:
    """A fresh id: the type's prefix and 8 random hex characters (`msg_1a2b3c4d`)."""
    return f"{_ID_PREFIXES[item_type]}_{secrets.token_hex(4)}"


class NotFoundError(ChatKitError):
    """The thread, item or attachment does not exist (or is not the caller's)."""

    http_status = 404
    http_code = "not_found"


class AttachmentStore(ABC, Generic[TContext]):
    """Handles attachment bytes: issuing upload targets and deleting files."""

    @abstractmethod
    async def delete_attachment(self, attachment_id: str, context: TContext) -> None:
        """Delete the attachment's stored bytes."""

    async def create_attachment(self, input: AttachmentCreateParams, context: TContext) -> Attachment:
        """Register an attachment and say where the client uploads it (two-phase upload)."""
        raise NotImplementedError(
            f"{type(self).__name__} does not implement create_attachment, which two-phase uploads need"
        )

    def generate_attachment_id(self, mime_type: str, context: TContext) -> str:
        """A fresh attachment id."""
        return default_generate_id("attachment")


class Store(ABC, Generic[TContext]):
    """Keeps threads, their items and attachment records, scoped by the request context."""

    def generate_thread_id(self, context: TContext) -> str:
        """A fresh thread id."""
        return default_generate_id("thread")

    def generate_item_id(self, item_type: StoreItemType, thread: ThreadMetadata, context: TContext) -> str:
        """A fresh id for an item of `thread`."""
        return default_generate_id(item_type)

    @abstractmethod
    async def load_thread(self, thread_id: str, context: TContext) -> ThreadMetadata:
        """The thread's metadata; `NotFoundError` if there is none."""

    @abstractmethod
    async def save_thread(self, thread: ThreadMetadata, context: TContext) -> None:
        """Create or update a thread's metadata."""

    @abstractmethod
    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: TContext
    ) -> Page[ThreadItem]:
        """A page of the thread's items in `order` ("asc" or "desc"), after the item `after`."""

    @abstractmethod
    async def save_attachment(self, attachment: Attachment, context: TContext) -> None:
        """Create or update an attachment record."""

    @abstractmethod
    async def load_attachment(self, attachment_id: str, context: TContext) -> Attachment:
        """An attachment record; `NotFoundError` if there is none."""

    @abstractmethod
    async def delete_attachment(self, attachment_id: str, context: TContext) -> None:
        """Delete an attachment record."""

    @abstractmethod
    async def load_threads(self, limit: int, after: str | None, order: str, context: TContext) -> Page[ThreadMetadata]:
        """A page of the caller's threads in `order` of creation, after the thread `after`."""

    @abstractmethod
    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: TContext) -> None:
        """Append an item to a thread."""

    @abstractmethod
    async def save_item(self, thread_id: str, item: ThreadItem, context: TContext) -> None:
        """Create or replace an item of a thread."""

    @abstractmethod
    async def load_item(self, thread_id: str, item_id: str, context: TContext) -> ThreadItem:
        """One item of a thread; `NotFoundError` if there is none."""

    @abstractmethod
    async def delete_thread(self, thread_id: str, context: TContext) -> None:
        """Delete a thread and all its items."""

    @abstractmethod
    async def delete_thread_item(self, thread_id: str, item_id: str, context: TContext) -> None:
        """Delete one item of a thread."""


__all__ = [
    "Attachment",
    "AttachmentCreateParams",
    "AttachmentStore",
    "NotFoundError",
    "Page",
    "Store",
    "StoreItemType",
    "TContext",
    "ThreadItem",
    "ThreadMetadata",
    "default_generate_id",
]
