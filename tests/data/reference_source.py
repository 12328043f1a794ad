"""A store and an attachment store written for the reference API only, as an integrator's own would be.

Neither knows about tenants listing, scopes or `import_file`: `chatkit copy` must read them through
`Store` and `AttachmentReader` alone. `STORE` and `FILES` are filled by the tests that copy them.
"""

from __future__ import annotations

from typing import Any

from chatkit.store import AttachmentStore, NotFoundError, Store
from chatkit.types import Attachment, Page, ThreadItem, ThreadMetadata


class DictStore(Store[dict[str, str]]):
    """Threads, items and attachment records in dictionaries, one set per `user_id`."""

    def __init__(self) -> None:
        self.threads: dict[str, dict[str, ThreadMetadata]] = {}
        self.items: dict[tuple[str, str], list[ThreadItem]] = {}
        self.attachments: dict[str, dict[str, Attachment]] = {}

    def _threads(self, context: dict[str, str]) -> dict[str, ThreadMetadata]:
        return self.threads.setdefault(context["user_id"], {})

    def _items(self, thread_id: str, context: dict[str, str]) -> list[ThreadItem]:
        if thread_id not in self._threads(context):
            raise NotFoundError(f"no thread {thread_id}")
        return self.items.setdefault((context["user_id"], thread_id), [])

    async def load_thread(self, thread_id: str, context: dict[str, str]) -> ThreadMetadata:
        """The thread, or `NotFoundError`."""
        try:
            return self._threads(context)[thread_id]
        except KeyError:
            raise NotFoundError(f"no thread {thread_id}") from None

    async def save_thread(self, thread: ThreadMetadata, context: dict[str, str]) -> None:
        """Keep the thread's metadata."""
        self._threads(context)[thread.id] = thread

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: dict[str, str]
    ) -> Page[ThreadItem]:
        """A page of the thread's items; `after` is left unset, as some stores of the reference's era do."""
        items = list(self._items(thread_id, context))
        if order == "desc":
            items.reverse()
        start = next((index + 1 for index, item in enumerate(items) if item.id == after), 0)
        page = items[start : start + limit]
        return Page(data=page, has_more=start + limit < len(items), after=None)

    async def save_attachment(self, attachment: Attachment, context: dict[str, str]) -> None:
        """Keep the attachment record."""
        self.attachments.setdefault(context["user_id"], {})[attachment.id] = attachment

    async def load_attachment(self, attachment_id: str, context: dict[str, str]) -> Attachment:
        """The record, or `NotFoundError`."""
        try:
            return self.attachments.get(context["user_id"], {})[attachment_id]
        except KeyError:
            raise NotFoundError(f"no attachment {attachment_id}") from None

    async def delete_attachment(self, attachment_id: str, context: dict[str, str]) -> None:
        """Forget the record."""
        self.attachments.get(context["user_id"], {}).pop(attachment_id, None)

    async def load_threads(
        self, limit: int, after: str | None, order: str, context: dict[str, str]
    ) -> Page[ThreadMetadata]:
        """A page of threads by creation time."""
        threads = sorted(self._threads(context).values(), key=lambda thread: thread.created_at)
        if order == "desc":
            threads.reverse()
        start = next((index + 1 for index, thread in enumerate(threads) if thread.id == after), 0)
        page = threads[start : start + limit]
        more = start + limit < len(threads)
        return Page(data=page, has_more=more, after=page[-1].id if more and page else None)

    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: dict[str, str]) -> None:
        """Append the item."""
        self._items(thread_id, context).append(item)

    async def save_item(self, thread_id: str, item: ThreadItem, context: dict[str, str]) -> None:
        """Replace the item with the same id, or append it."""
        items = self._items(thread_id, context)
        for index, existing in enumerate(items):
            if existing.id == item.id:
                items[index] = item
                return
        items.append(item)

    async def load_item(self, thread_id: str, item_id: str, context: dict[str, str]) -> ThreadItem:
        """One item, or `NotFoundError`."""
        for item in self._items(thread_id, context):
            if item.id == item_id:
                return item
        raise NotFoundError(f"no item {item_id}")

    async def delete_thread(self, thread_id: str, context: dict[str, str]) -> None:
        """Forget the thread and its items."""
        self._threads(context).pop(thread_id, None)
        self.items.pop((context["user_id"], thread_id), None)

    async def delete_thread_item(self, thread_id: str, item_id: str, context: dict[str, str]) -> None:
        """Forget one item."""
        items = self._items(thread_id, context)
        items[:] = [item for item in items if item.id != item_id]


class DictFiles(AttachmentStore[dict[str, str]]):
    """Attachment bytes in a dictionary, handed over by `read_attachment` (an `AttachmentReader`)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    async def delete_attachment(self, attachment_id: str, context: dict[str, str]) -> None:
        """Forget the bytes."""
        self.data.pop(attachment_id, None)

    async def read_attachment(self, attachment: Attachment) -> bytes | None:
        """The bytes of the attachment, or None."""
        return self.data.get(attachment.id)


STORE = DictStore()
FILES = DictFiles()


def users() -> list[dict[str, Any]]:
    """The contexts of the users `STORE` holds, for `--users`."""
    return [{"user_id": user_id} for user_id in sorted(STORE.threads)]
