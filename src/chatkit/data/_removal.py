"""Retention and erasure: deleting rows in short batches, then the files their records name."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import Any, Protocol, runtime_checkable

from chatkit.attachments._checks import SCOPE_METADATA_KEY
from chatkit.logger import logger
from chatkit.store import AttachmentStore
from chatkit.stores._base import Removal, ScopedStore
from chatkit.types import Attachment

DEFAULT_BATCH_SIZE = 500
"""Threads deleted per transaction: small enough that live writes wait one short batch at most."""


@runtime_checkable
class TenantFiles(Protocol):
    """An attachment store that finds files by tenant key, as every store of `chatkit.attachments` does."""

    def scope_key(self, context: Any) -> str:
        """The key of the context's tenant among the files."""
        ...

    async def delete_file(self, attachment_id: str, scope_key: str) -> None:
        """Delete one attachment's bytes of the tenant `scope_key`, if there are any."""
        ...

    async def delete_tenant_files(self, scope_key: str) -> int:
        """Delete every file of the tenant `scope_key`; how many attachments had some."""
        ...


@dataclass
class RemovalReport:
    """What a retention sweep or an erasure removed.

    `threads`, `items` and `attachments` count rows; `files` counts attachments whose bytes were
    deleted through their records, `stray_files` those an erasure found with no record (an upload
    announced and never sent, say); `batches` counts the transactions it took.
    """

    threads: int = 0
    items: int = 0
    attachments: int = 0
    files: int = 0
    stray_files: int = 0
    batches: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts by name, as the CLI prints them."""
        return asdict(self)


async def remove_idle(
    store: ScopedStore,
    idle_days: float,
    *,
    attachment_store: AttachmentStore[Any] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    pause: float = 0.0,
    stop: asyncio.Event | None = None,
) -> RemovalReport:
    """Delete every thread not written to for `idle_days` days, with its items, attachments and files.

    Uploads that never reached a thread and are as old go too. Rows go `batch_size` threads per
    transaction, `pause` seconds apart, so live traffic is held up one short batch at a time.
    Files go through `attachment_store` (the server's), after the rows that name them. Once `stop`
    is set the sweep ends after the batch under way, files included (a shutdown loses no file).
    """
    if idle_days < 0:
        raise ValueError(f"idle_days must be zero or more, not {idle_days}")
    report = RemovalReport()
    files = _Files(attachment_store, context=None)
    while not (stop is not None and stop.is_set()):
        removal = await store.remove_idle(idle_days * 86400.0, batch_size)
        if not removal:
            break
        await files.remove(removal, report)
        await asyncio.sleep(pause)
    return report


async def erase_tenant(
    store: ScopedStore,
    context: Any,
    *,
    attachment_store: AttachmentStore[Any] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> RemovalReport:
    """Delete everything the context's tenant owns: threads, items, attachment records and files.

    Files without a record (an upload announced and never sent) are found by the tenant's key and
    deleted as well, so afterwards the tenant has no row in `store` and no file in `attachment_store`.
    """
    report = RemovalReport()
    files = _Files(attachment_store, context=context)
    while removal := await store.remove_tenant(context, batch_size):
        await files.remove(removal, report)
    if isinstance(attachment_store, TenantFiles):
        report.stray_files = await attachment_store.delete_tenant_files(attachment_store.scope_key(context))
    return report


class _Files:
    """Deletes the files named by the attachment records a removal returned."""

    def __init__(self, attachment_store: AttachmentStore[Any] | None, context: Any) -> None:
        self._store = attachment_store
        self._context = context
        self._warned = False

    async def remove(self, removal: Removal, report: RemovalReport) -> None:
        report.batches += 1
        report.threads += removal.threads
        report.items += removal.items
        report.attachments += len(removal.attachments)
        for _, attachment in removal.attachments:
            try:
                report.files += await self._delete(attachment)
            except Exception:
                # The rows are gone already; one file that resists must not stop the sweep.
                logger.exception("could not delete the file of attachment %s", attachment.id)

    async def _delete(self, attachment: Attachment) -> int:
        store = self._store
        if store is None:
            return 0
        scope_key = (attachment.metadata or {}).get(SCOPE_METADATA_KEY)
        if isinstance(store, TenantFiles) and isinstance(scope_key, str):
            await store.delete_file(attachment.id, scope_key)
            return 1
        if self._context is not None:
            await store.delete_attachment(attachment.id, self._context)
            return 1
        if not self._warned:
            self._warned = True
            logger.warning(
                "%s cannot delete a file by its record alone (no delete_file); the files of swept attachments stay",
                type(store).__name__,
            )
        return 0
