"""What the bundled stores share: tenant scoping, lifecycle and the shape of a page."""

from __future__ import annotations

import asyncio
import functools
import time
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, TypeVar, runtime_checkable

from typing_extensions import Self

from chatkit.logger import logger
from chatkit.store import AttachmentStore, Store, StoreItemType
from chatkit.stores import _codec
from chatkit.stores._ids import new_id
from chatkit.stores._scope import ScopeFunction, default_scope, resolve_scope
from chatkit.types import Attachment, Page, ThreadItem, ThreadMetadata, UserMessageItem


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


T = TypeVar("T", bound=_HasId)


@runtime_checkable
class TenantScopedFiles(Protocol):
    """An attachment store that files attachments by tenant with whatever function it is given."""

    def scope_with(self, resolve: Callable[[Any], str]) -> None:
        """File attachments under the tenant `resolve` names for a context."""
        ...


@runtime_checkable
class PreviewSigner(Protocol):
    """An attachment store whose preview URLs expire, so a loaded attachment needs a fresh one."""

    def refresh_preview(self, attachment: Attachment) -> Attachment:
        """`attachment` with a newly signed preview URL."""
        ...


@dataclass
class Removal:
    """What one removal batch took out of a store: rows counted, attachment records returned.

    The records (with the tenant scope each was stored under) say which files to delete next;
    `chatkit.data` does that, since a store holds rows, not bytes.
    """

    threads: int = 0
    items: int = 0
    attachments: list[tuple[str, Attachment]] = field(default_factory=list[tuple[str, Attachment]])

    def __bool__(self) -> bool:
        return bool(self.threads or self.attachments)


OperationObserver = Callable[[str, float], None]
"""Told each store operation's method name and its length in seconds, when it ends."""

# The `Store` methods whose time is observed (each a coroutine method of our backends).
_TIMED_METHODS = frozenset(
    {
        "load_thread",
        "save_thread",
        "load_threads",
        "delete_thread",
        "load_thread_items",
        "add_thread_item",
        "save_item",
        "load_item",
        "delete_thread_item",
        "save_attachment",
        "load_attachment",
        "delete_attachment",
    }
)


def _timed(name: str, method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    """`method`, telling the store's observer (if any) how long each call took."""

    @functools.wraps(method)
    async def timed(self: ScopedStore, *args: Any, **kwargs: Any) -> Any:
        observe = self.operation_observer
        if observe is None:
            return await method(self, *args, **kwargs)
        started = time.perf_counter()
        try:
            return await method(self, *args, **kwargs)
        finally:
            observe(name, time.perf_counter() - started)

    return timed


class ScopedStore(Store[Any]):
    """A `Store` that scopes every row to a tenant and opens and closes explicitly."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Only the backends of this package: a subclass of yours calling `super()` is timed once.
        if cls.__module__.startswith("chatkit.stores."):
            for name in _TIMED_METHODS & cls.__dict__.keys():
                setattr(cls, name, _timed(name, cls.__dict__[name]))

    def __init__(self, *, scope: ScopeFunction = default_scope, single_tenant: bool = False) -> None:
        self._scope_function = scope
        self._single_tenant = single_tenant
        self._opened = False
        self._open_lock = asyncio.Lock()
        self._attachment_store: AttachmentStore[Any] | None = None
        self._refresh_preview: Callable[[Attachment], Attachment] | None = None
        self.operation_observer: OperationObserver | None = None

    def observe_operations(self, observer: OperationObserver | None) -> None:
        """Tell `observer` each store operation's method and length (`create_app`'s metrics do); None stops."""
        self.operation_observer = observer

    def generate_thread_id(self, context: Any) -> str:
        """A fresh thread id: `thr_`, then a time-ordered value with 96 random bits."""
        return new_id("thread")

    def generate_item_id(self, item_type: StoreItemType, thread: ThreadMetadata, context: Any) -> str:
        """A fresh item id: the type's prefix, then a time-ordered value with 96 random bits."""
        return new_id(item_type)

    def link_attachment_store(self, attachment_store: AttachmentStore[Any]) -> None:
        """Delete a thread's attachment files through `attachment_store` when the thread is deleted.

        `ChatKitServer(store, attachment_store)` links the two itself. A `TenantScopedFiles` attachment
        store (`LocalAttachmentStore`, `PostgresAttachmentStore`) takes this store's scoping, so files
        are split by tenant exactly as rows are; a `PreviewSigner` re-signs the expiring preview URLs
        of the images this store loads.
        """
        self._attachment_store = attachment_store
        if isinstance(attachment_store, TenantScopedFiles):
            attachment_store.scope_with(self._scope)
        self._refresh_preview = (
            attachment_store.refresh_preview if isinstance(attachment_store, PreviewSigner) else None
        )

    async def open(self) -> None:
        """Connect and create or migrate the schema; calling it again does nothing."""
        if self._opened:
            return
        async with self._open_lock:
            if not self._opened:
                await self._open()
                self._opened = True

    async def aclose(self) -> None:
        """Release connections and threads; a later call opens the store again."""
        async with self._open_lock:
            if self._opened:
                self._opened = False
                await self._close()

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def ping(self) -> None:
        """Raise unless the store answers a trivial query (opening it first if needed): a readiness check."""
        await self._ready()
        await self._ping()

    @abstractmethod
    def turn_lock(self, thread_id: str, context: Any) -> AbstractAsyncContextManager[None]:
        """Serialize the turns run on one thread: one holder at a time per scoped thread."""

    def turn_scope(self, context: Any) -> str:
        """The tenant scope of `context`, which names its turns as it names its rows."""
        return self._scope(context)

    # -- data upkeep: retention, erasure, export (driven by `chatkit.data`) ------------------

    async def remove_idle(self, idle_for: float, limit: int) -> Removal:
        """Delete up to `limit` threads of any tenant written to `idle_for` seconds ago or longer.

        A thread's last write is the latest save of the thread or of any of its items; its items
        and attachment records go with it. Up to `limit` attachment records that never reached a
        thread (abandoned uploads) and are as old go too. One short transaction, so live traffic
        waits for one batch at most; an empty `Removal` means nothing was left to remove.
        """
        await self._ready()
        return await self._remove_idle(max(0.0, idle_for), max(1, limit))

    async def remove_tenant(self, context: Any, limit: int) -> Removal:
        """Delete up to `limit` of the context's threads (with items and attachment records); once none
        are left, up to `limit` of its remaining attachment records. Empty when nothing is left."""
        await self._ready()
        return await self._remove_tenant(self._scope(context), max(1, limit))

    async def load_tenant_attachments(self, context: Any) -> list[Attachment]:
        """Every attachment record of the context's tenant, in threads or not, oldest first."""
        await self._ready()
        return [self._load_attachment(data) for data in await self._tenant_attachments(self._scope(context))]

    async def scopes(self) -> list[str]:
        """The tenant scopes that own at least one thread or attachment record, in sorted order."""
        await self._ready()
        return sorted(await self._scopes())

    @abstractmethod
    async def _remove_idle(self, idle_for: float, limit: int) -> Removal: ...

    @abstractmethod
    async def _remove_tenant(self, scope: str, limit: int) -> Removal: ...

    @abstractmethod
    async def _tenant_attachments(self, scope: str) -> list[str]: ...

    @abstractmethod
    async def _scopes(self) -> set[str]: ...

    @abstractmethod
    async def _open(self) -> None: ...

    @abstractmethod
    async def _close(self) -> None: ...

    @abstractmethod
    async def _ping(self) -> None: ...

    async def _ready(self) -> None:
        # Stores built the reference's way are never opened explicitly: open on first use.
        if not self._opened:
            await self.open()

    def _scope(self, context: Any) -> str:
        return resolve_scope(self._scope_function, self._single_tenant, context)

    def _load_item(self, data: str | bytes) -> ThreadItem:
        """A stored item; the previews of a user message's images signed afresh when a linked store can."""
        item = _codec.load_item(data)
        refresh = self._refresh_preview
        if refresh is not None and isinstance(item, UserMessageItem) and item.attachments:
            item.attachments = [refresh(attachment) for attachment in item.attachments]
        return item

    def _load_attachment(self, data: str | bytes) -> Attachment:
        """A stored attachment record; an image's preview signed afresh when a linked store can."""
        attachment = _codec.load_attachment(data)
        return attachment if self._refresh_preview is None else self._refresh_preview(attachment)

    async def _delete_files(self, attachment_ids: Sequence[str], context: Any) -> None:
        """Delete the files of attachments whose records a thread deletion just removed."""
        files = self._attachment_store
        if files is None:
            return
        for attachment_id in attachment_ids:
            try:
                await files.delete_attachment(attachment_id, context)
            except Exception:
                # The rows are gone already; one file that resists must not hide the others.
                logger.exception("could not delete the file of attachment %s", attachment_id)


MAX_PAGE_SIZE = 10_000
"""The most rows one page holds, whatever the caller asks: paging goes on with `after`."""


DEFAULT_LIMIT = 20
"""The page size of a listing that asks for none (zero or negative), as the server's default."""


def clamp_limit(limit: int) -> int:
    """A page size the database can take: non-positive is the default, huge is `MAX_PAGE_SIZE`."""
    # The server hands a negative limit through as the reference does; an empty page claiming more
    # rows would keep a client paging forever.
    return DEFAULT_LIMIT if limit <= 0 else min(limit, MAX_PAGE_SIZE)


def page_of(rows: Sequence[T], limit: int) -> Page[T]:
    """A page from up to `limit + 1` rows: the extra row only says that more follow."""
    data = list(rows[:limit])
    has_more = len(rows) > limit
    after = data[-1].id if has_more and data else None
    return Page(data=data, has_more=has_more, after=after)
