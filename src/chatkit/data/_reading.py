"""Reading a store through the `Store` API alone: every thread, every item, every file's bytes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

from chatkit.attachments._checks import SCOPE_METADATA_KEY
from chatkit.attachments._streams import AttachmentFiles, AttachmentReader, FileStream, streaming_files
from chatkit.store import AttachmentStore, Store
from chatkit.stores._base import MAX_PAGE_SIZE
from chatkit.types import Attachment, ThreadItem, ThreadMetadata


async def all_threads(store: Store[Any], context: Any) -> AsyncIterator[ThreadMetadata]:
    """The context's threads, oldest first, a page at a time."""
    after: str | None = None
    while True:
        page = await store.load_threads(MAX_PAGE_SIZE, after, "asc", context)
        for thread in page.data:
            yield thread
        # A store of your own may leave `after` unset: the last row is the cursor then.
        after = page.after or (page.data[-1].id if page.data else None)
        if not page.has_more or after is None:
            return


async def all_items(store: Store[Any], thread_id: str, context: Any) -> AsyncIterator[ThreadItem]:
    """A thread's items in the thread's order, a page at a time."""
    after: str | None = None
    while True:
        page = await store.load_thread_items(thread_id, after, MAX_PAGE_SIZE, "asc", context)
        for item in page.data:
            yield item
        # A store of your own may leave `after` unset: the last row is the cursor then.
        after = page.after or (page.data[-1].id if page.data else None)
        if not page.has_more or after is None:
            return


@dataclass
class OpenedFile:
    """An attachment's bytes as they are read, with the name and type they were stored under."""

    name: str
    mime_type: str
    chunks: AsyncIterable[bytes]


class FileReader:
    """Reads an attachment's bytes out of whichever kind of attachment store holds them.

    The stores of `chatkit.attachments` find a file by the tenant key its record carries (or, for
    a record without one, the context's); a store of your own hands over bytes as an `AttachmentReader`.
    """

    def __init__(self, attachment_store: AttachmentStore[Any] | None) -> None:
        self._store = attachment_store
        self._files: AttachmentFiles | None = None
        if attachment_store is not None and not isinstance(attachment_store, AttachmentReader):
            with contextlib.suppress(TypeError):
                self._files = streaming_files(attachment_store)

    def scope_key(self, attachment: Attachment, context: Any) -> str | None:
        """The tenant key the attachment's file is kept under here, or None when this store has none."""
        scope_key = file_key(attachment)
        if scope_key is not None:
            return scope_key
        return None if self._files is None else self._files.scope_key(context)

    async def open(self, attachment: Attachment, context: Any) -> OpenedFile | None:
        """The attachment's bytes, or None when the store has none for it."""
        if isinstance(self._store, AttachmentReader):
            data = await self._store.read_attachment(attachment)
            return None if data is None else OpenedFile(attachment.name, attachment.mime_type, _once(data))
        scope_key = self.scope_key(attachment, context)
        if self._files is None or scope_key is None:
            return None
        stream: FileStream | None = await self._files.stream_file(attachment.id, scope_key)
        return None if stream is None else OpenedFile(stream.name, stream.mime_type, stream)


def file_key(attachment: Attachment) -> str | None:
    """The tenant key an attachment record of ours names its file by, or None."""
    scope_key = (attachment.metadata or {}).get(SCOPE_METADATA_KEY)
    return scope_key if isinstance(scope_key, str) else None


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
