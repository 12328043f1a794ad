"""Copying one store into another: threads, items, attachment records and their files, resumably.

The source is read through the `Store` API only (and `load_tenant_attachments` when it is one of
ours), so a store written for the reference can be copied from. Everything is written in the
source's order with the ordinary store methods, so the target lists it in the same order. What
the target holds already is compared and skipped, which makes a second run a no-op and a run
killed half-way resumable: a thread's missing items are appended after the ones it has.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable
from contextlib import aclosing
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from chatkit.attachments._streams import CountedChunks
from chatkit.data._reading import FileReader, all_items, all_threads, file_key
from chatkit.data._verify import TenantCheck, verify_copy
from chatkit.store import AttachmentStore, NotFoundError, Store
from chatkit.stores import _codec
from chatkit.stores._base import ScopedStore
from chatkit.types import Attachment, ThreadItem, ThreadMetadata, UserMessageItem


@runtime_checkable
class FileImporter(Protocol):
    """An attachment store that can take a file at a given id and tenant key, as ours all can."""

    async def import_file(
        self, attachment_id: str, scope_key: str, name: str, mime_type: str, chunks: AsyncIterable[bytes]
    ) -> bool:
        """Store the bytes of `chunks` as that attachment's file; False if it has one already."""
        ...

    def scope_key(self, context: Any) -> str:
        """The key of the context's tenant among the files."""
        ...


@dataclass
class CopyProgress:
    """How far a copy has got: threads done (copied or found there already) out of all of them."""

    tenant: str
    threads_done: int
    threads_total: int


@dataclass
class Tally:
    """One kind of row or file: written by this run, found unchanged in the target, or rewritten there."""

    copied: int = 0
    skipped: int = 0
    updated: int = 0


@dataclass
class CopyReport:
    """What a copy did, and what the verification that followed it found.

    `bytes` counts the file bytes this run wrote. `checked` holds one entry per tenant and
    `mismatches` one line per difference; both stay empty when verification was not asked for.
    """

    tenants: int = 0
    threads: Tally = field(default_factory=Tally)
    items: Tally = field(default_factory=Tally)
    attachments: Tally = field(default_factory=Tally)
    files: Tally = field(default_factory=Tally)
    bytes: int = 0
    verified: bool = False
    checked: list[TenantCheck] = field(default_factory=list[TenantCheck])
    mismatches: list[str] = field(default_factory=list[str])

    @property
    def matched(self) -> bool:
        """Whether verification ran and found both sides equal."""
        return self.verified and not self.mismatches

    @property
    def copied(self) -> int:
        """Rows and files this run wrote or rewrote, of every kind."""
        return sum(tally.copied + tally.updated for tally in (self.threads, self.items, self.attachments, self.files))

    def as_dict(self) -> dict[str, Any]:
        """The counts by name, ready for a log line or JSON."""
        counts = {name: asdict(getattr(self, name)) for name in ("threads", "items", "attachments", "files")}
        return {"tenants": self.tenants, **counts, "bytes": self.bytes}


async def copy_store(
    source: Store[Any],
    target: ScopedStore,
    *,
    contexts: Iterable[Any] | None = None,
    source_files: AttachmentStore[Any] | None = None,
    target_files: AttachmentStore[Any] | None = None,
    progress: Callable[[CopyProgress], None] | None = None,
    pause: float = 0.0,
    verify: bool = True,
) -> CopyReport:
    """Copy every thread, item and attachment (records and, given both file stores, bytes) into `target`.

    `contexts` name the tenants to copy; by default every tenant of `source`, which must then be a
    `ScopedStore` (a context `{"user_id": scope}` each). Run it again to resume an interrupted copy
    or to bring the target up to date: nothing already there is written twice. `pause` seconds pass
    after each thread, to go easy on a live source. Verification then reads both sides back and
    compares them (`CopyReport.matched`). Give stores not linked to attachment stores: a linked store
    re-signs image previews as it loads records, so they would never look the same twice.
    """
    if (source_files is None) != (target_files is None):
        raise ValueError("give both source_files and target_files, or neither (then no bytes are copied)")
    if target_files is not None and not isinstance(target_files, FileImporter):
        raise TypeError(f"{type(target_files).__name__} cannot take copied files (it has no import_file)")
    tenants = await tenant_contexts(source, contexts)
    report = CopyReport(tenants=len(tenants))
    total = 0
    if progress is not None:
        for context in tenants:
            total += sum([1 async for _ in all_threads(source, context)])
    copier = _Copier(source, target, FileReader(source_files), target_files, report)
    done = 0
    for context in tenants:
        tenant = target.turn_scope(context)
        if progress is not None:
            progress(CopyProgress(tenant, done, total))
        # Closed on the way out, so a progress callback that raises (to stop the copy) leaves nothing open.
        async with aclosing(copier.tenant(context)) as threads:
            async for _ in threads:
                done += 1
                if progress is not None:
                    progress(CopyProgress(tenant, done, total))
                await asyncio.sleep(pause)
    if verify:
        report.checked, report.mismatches = await verify_copy(
            source, target, tenants, FileReader(source_files), FileReader(target_files)
        )
        report.verified = True
    return report


async def tenant_contexts(source: Store[Any], contexts: Iterable[Any] | None) -> list[Any]:
    """The contexts given, or one `{"user_id": scope}` for each tenant a `ScopedStore` holds."""
    if contexts is not None:
        return list(contexts)
    if not isinstance(source, ScopedStore):
        raise TypeError(
            f"{type(source).__name__} cannot list its tenants (it is not a ScopedStore): give the contexts to copy"
        )
    return [{"user_id": scope} for scope in await source.scopes()]


class _Copier:
    """Copies one tenant at a time, counting into a report what it wrote and what it found there."""

    def __init__(
        self,
        source: Store[Any],
        target: ScopedStore,
        reader: FileReader,
        target_files: FileImporter | None,
        report: CopyReport,
    ) -> None:
        self.source = source
        self.target = target
        self.reader = reader
        self.target_files = target_files
        self.report = report
        self.seen: set[str] = set()

    async def tenant(self, context: Any) -> AsyncGenerator[ThreadMetadata, None]:
        """Copy the context's attachments, then its threads oldest first, yielding each thread once done."""
        self.seen = set()
        if isinstance(self.source, ScopedStore):
            # Uploads that never reached a thread are found only this way; the rest come in the
            # store's own order, so the target lists them in the same order.
            for attachment in await self.source.load_tenant_attachments(context):
                await self.attachment(attachment, context)
        async for thread in all_threads(self.source, context):
            await self.thread(thread, context)
            yield thread

    async def thread(self, thread: ThreadMetadata, context: Any) -> None:
        """Copy one thread and the items the target lacks, in order; rewrite what differs."""
        try:
            existing: ThreadMetadata | None = await self.target.load_thread(thread.id, context)
        except NotFoundError:
            existing = None
        if existing is None:
            await self.target.save_thread(thread, context)
            self.report.threads.copied += 1
        elif _codec.dump_thread(existing) != _codec.dump_thread(thread):
            await self.target.save_thread(thread, context)
            self.report.threads.updated += 1
        else:
            self.report.threads.skipped += 1
        present: dict[str, str] = {}
        if existing is not None:
            present = {item.id: _codec.dump_item(item) async for item in all_items(self.target, thread.id, context)}
        async for item in all_items(self.source, thread.id, context):
            await self.item_attachments(item, context)
            stored = present.get(item.id)
            if stored is None:
                await self.target.add_thread_item(thread.id, item, context)
                self.report.items.copied += 1
            elif stored != _codec.dump_item(item):
                await self.target.save_item(thread.id, item, context)
                self.report.items.updated += 1
            else:
                self.report.items.skipped += 1

    async def item_attachments(self, item: ThreadItem, context: Any) -> None:
        """Copy the attachments a message carries that were not copied yet, from their own records."""
        if not isinstance(item, UserMessageItem):
            return
        for carried in item.attachments:
            if carried.id in self.seen:
                continue
            try:
                record = await self.source.load_attachment(carried.id, context)
            except NotFoundError:
                # No record to copy; the message's copy of it still says where the bytes are.
                self.seen.add(carried.id)
                await self.file(carried, context)
                continue
            await self.attachment(record, context)

    async def attachment(self, record: Attachment, context: Any) -> None:
        """Copy an attachment's file, then its record: a record in the target means its file is there."""
        self.seen.add(record.id)
        await self.file(record, context)
        try:
            existing: Attachment | None = await self.target.load_attachment(record.id, context)
        except NotFoundError:
            existing = None
        if existing is None:
            await self.target.save_attachment(record, context)
            self.report.attachments.copied += 1
        elif _codec.dump_attachment(existing) != _codec.dump_attachment(record):
            await self.target.save_attachment(record, context)
            self.report.attachments.updated += 1
        else:
            self.report.attachments.skipped += 1

    async def file(self, attachment: Attachment, context: Any) -> None:
        """Copy an attachment's bytes under the same id and tenant key, unless the target has them."""
        if self.target_files is None:
            return
        opened = await self.reader.open(attachment, context)
        if opened is None:
            return
        # The key the record names, so the copied record finds its file; a record of your own store
        # names none, and the target files it under the context's tenant as an upload would be.
        scope_key = file_key(attachment) or self.target_files.scope_key(context)
        counter = CountedChunks(opened.chunks)
        if await self.target_files.import_file(attachment.id, scope_key, opened.name, opened.mime_type, counter):
            self.report.files.copied += 1
            self.report.bytes += counter.size
        else:
            self.report.files.skipped += 1
