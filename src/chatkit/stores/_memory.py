"""A store that keeps everything in process memory: for tests and prototypes."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from chatkit.store import NotFoundError
from chatkit.stores import _codec
from chatkit.stores._base import Removal, ScopedStore, clamp_limit, page_of
from chatkit.stores._errors import IdConflictError
from chatkit.stores._locks import KeyedLocks
from chatkit.stores._scope import ScopeFunction, default_scope
from chatkit.types import Attachment, Page, ThreadItem, ThreadMetadata


def _window(ids: list[str], after: str | None, limit: int, order: str, what: str) -> list[str]:
    """The ids of one page plus one look-ahead id; `ids` are in insertion order."""
    ordered = ids if order == "asc" else ids[::-1]
    start = 0
    if after is not None:
        try:
            start = ordered.index(after) + 1
        except ValueError:
            raise NotFoundError(f"{what} cursor {after!r} not found") from None
    return ordered[start : start + limit + 1]


class MemoryStore(ScopedStore):
    """Keeps threads, items and attachments in dicts, stored as JSON like the database stores do."""

    def __init__(self, *, scope: ScopeFunction = default_scope, single_tenant: bool = False) -> None:
        super().__init__(scope=scope, single_tenant=single_tenant)
        # Dicts keep insertion order, which is the listing order; replacing a value keeps its place.
        self._threads: dict[str, dict[str, str]] = {}
        self._items: dict[tuple[str, str], dict[str, str]] = {}
        self._attachments: dict[str, dict[str, tuple[str | None, str]]] = {}
        # When each thread (or an item of it) and each attachment record was last written, for retention.
        self._thread_touched: dict[tuple[str, str], float] = {}
        self._attachment_touched: dict[tuple[str, str], float] = {}
        self._locks = KeyedLocks()

    async def _open(self) -> None:
        pass

    async def _close(self) -> None:
        pass

    async def _ping(self) -> None:
        pass

    @asynccontextmanager
    async def turn_lock(self, thread_id: str, context: Any) -> AsyncIterator[None]:
        """Serialize the turns run on one thread across the tasks of this process."""
        async with self._locks.hold(f"{self._scope(context)}\0{thread_id}"):
            yield

    def _thread_items(self, thread_id: str, context: Any) -> dict[str, str]:
        scope = self._scope(context)
        if thread_id not in self._threads.get(scope, {}):
            raise NotFoundError(f"Thread {thread_id!r} not found")
        return self._items.setdefault((scope, thread_id), {})

    def _touch(self, thread_id: str, context: Any) -> None:
        self._thread_touched[(self._scope(context), thread_id)] = time.time()

    async def load_thread(self, thread_id: str, context: Any) -> ThreadMetadata:
        """The thread's metadata; `NotFoundError` if the caller has no such thread."""
        data = self._threads.get(self._scope(context), {}).get(thread_id)
        if data is None:
            raise NotFoundError(f"Thread {thread_id!r} not found")
        return _codec.load_thread(data)

    async def save_thread(self, thread: ThreadMetadata, context: Any) -> None:
        """Create or update the thread's metadata; `IdConflictError` if the id is another thread's."""
        threads = self._threads.setdefault(self._scope(context), {})
        data = _codec.dump_thread(thread)
        stored = threads.get(thread.id)
        if stored is not None and not _codec.same_identity(stored, data):
            raise IdConflictError(f"Thread id {thread.id!r} belongs to another thread")
        threads[thread.id] = data
        self._touch(thread.id, context)

    async def load_threads(self, limit: int, after: str | None, order: str, context: Any) -> Page[ThreadMetadata]:
        """A page of the caller's threads in creation order."""
        threads = self._threads.get(self._scope(context), {})
        limit = clamp_limit(limit)
        ids = _window(list(threads), after, limit, order, "Thread")
        return page_of([_codec.load_thread(threads[thread_id]) for thread_id in ids], limit)

    async def delete_thread(self, thread_id: str, context: Any) -> None:
        """Delete the thread, its items and its attachments; `NotFoundError` if the caller has no such thread."""
        scope = self._scope(context)
        if thread_id not in self._threads.get(scope, {}):
            raise NotFoundError(f"Thread {thread_id!r} not found")
        removal = Removal()
        self._remove_thread(scope, thread_id, removal)
        await self._delete_files([attachment.id for _, attachment in removal.attachments], context)

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: Any
    ) -> Page[ThreadItem]:
        """A page of the thread's items in insertion order."""
        items = self._thread_items(thread_id, context)
        limit = clamp_limit(limit)
        ids = _window(list(items), after, limit, order, "Item")
        return page_of([self._load_item(items[item_id]) for item_id in ids], limit)

    async def add_thread_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        """Append the item (updated in place if added before); `IdConflictError` if the id is another item's."""
        items = self._thread_items(thread_id, context)
        data = _codec.dump_item(item)
        stored = items.get(item.id)
        if stored is not None and not _codec.same_identity(stored, data):
            raise IdConflictError(f"Item id {item.id!r} belongs to another item of thread {thread_id!r}")
        items[item.id] = data
        self._touch(thread_id, context)

    async def save_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        """Create or replace the item."""
        self._thread_items(thread_id, context)[item.id] = _codec.dump_item(item)
        self._touch(thread_id, context)

    async def load_item(self, thread_id: str, item_id: str, context: Any) -> ThreadItem:
        """One item of the thread; `NotFoundError` if there is none."""
        data = self._thread_items(thread_id, context).get(item_id)
        if data is None:
            raise NotFoundError(f"Item {item_id!r} not found in thread {thread_id!r}")
        return self._load_item(data)

    async def delete_thread_item(self, thread_id: str, item_id: str, context: Any) -> None:
        """Delete one item; a missing item is fine, a missing thread is `NotFoundError`."""
        self._thread_items(thread_id, context).pop(item_id, None)

    async def save_attachment(self, attachment: Attachment, context: Any) -> None:
        """Create or update the attachment record."""
        scope = self._scope(context)
        attachments = self._attachments.setdefault(scope, {})
        attachments[attachment.id] = (attachment.thread_id, _codec.dump_attachment(attachment))
        self._attachment_touched[(scope, attachment.id)] = time.time()

    async def load_attachment(self, attachment_id: str, context: Any) -> Attachment:
        """The attachment record; `NotFoundError` if the caller has none."""
        row = self._attachments.get(self._scope(context), {}).get(attachment_id)
        if row is None:
            raise NotFoundError(f"Attachment {attachment_id!r} not found")
        return self._load_attachment(row[1])

    async def delete_attachment(self, attachment_id: str, context: Any) -> None:
        """Delete the attachment record; `NotFoundError` if the caller has none."""
        scope = self._scope(context)
        if self._attachments.get(scope, {}).pop(attachment_id, None) is None:
            raise NotFoundError(f"Attachment {attachment_id!r} not found")
        self._attachment_touched.pop((scope, attachment_id), None)

    # -- data upkeep -------------------------------------------------------------------------

    def _remove_thread(self, scope: str, thread_id: str, removal: Removal) -> None:
        """Delete one thread with its items and attachment records, counting them in `removal`."""
        del self._threads[scope][thread_id]
        self._thread_touched.pop((scope, thread_id), None)
        removal.threads += 1
        removal.items += len(self._items.pop((scope, thread_id), {}))
        attachments = self._attachments.get(scope, {})
        owned = [(scope, key) for key, (owner, _) in attachments.items() if owner == thread_id]
        self._remove_attachments(owned, removal)

    def _remove_attachments(self, keys: list[tuple[str, str]], removal: Removal) -> None:
        for scope, attachment_id in keys:
            data = self._attachments[scope].pop(attachment_id)[1]
            self._attachment_touched.pop((scope, attachment_id), None)
            removal.attachments.append((scope, _codec.load_attachment(data)))

    async def _remove_idle(self, idle_for: float, limit: int) -> Removal:
        cutoff = time.time() - idle_for
        removal = Removal()
        idle = sorted((at, key) for key, at in self._thread_touched.items() if at < cutoff)
        for _, (scope, thread_id) in idle[:limit]:
            self._remove_thread(scope, thread_id, removal)
        loose = sorted(
            (at, key)
            for key, at in self._attachment_touched.items()
            if at < cutoff and self._attachments[key[0]][key[1]][0] is None
        )
        self._remove_attachments([key for _, key in loose[:limit]], removal)
        return removal

    async def _remove_tenant(self, scope: str, limit: int) -> Removal:
        removal = Removal()
        thread_ids = list(self._threads.get(scope, {}))[:limit]
        for thread_id in thread_ids:
            self._remove_thread(scope, thread_id, removal)
        if len(thread_ids) < limit:
            self._remove_attachments([(scope, key) for key in list(self._attachments.get(scope, {}))[:limit]], removal)
        return removal

    async def _tenant_attachments(self, scope: str) -> list[str]:
        return [data for _, data in self._attachments.get(scope, {}).values()]

    async def _scopes(self) -> set[str]:
        return {scope for scope, threads in self._threads.items() if threads} | {
            scope for scope, attachments in self._attachments.items() if attachments
        }
