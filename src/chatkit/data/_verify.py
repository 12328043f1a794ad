"""Checking a copy: both stores read back tenant by tenant, summed up and compared.

Each thread is summed up as the SHA-256 of its stored metadata and its items' stored JSON in
order (as `chatkit.stores._codec` writes them), attachment records are compared whole, and every
file by the SHA-256 of its bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from chatkit.data._reading import FileReader, all_items, all_threads
from chatkit.store import NotFoundError, Store
from chatkit.stores import _codec
from chatkit.stores._base import ScopedStore
from chatkit.types import Attachment, UserMessageItem


@dataclass(frozen=True)
class Counts:
    """What one side holds for one tenant."""

    threads: int = 0
    items: int = 0
    attachments: int = 0
    files: int = 0


@dataclass
class TenantCheck:
    """One tenant as verification counted it in the source and in the target."""

    tenant: str
    source: Counts
    target: Counts


@dataclass
class _Survey:
    """One side of one tenant: each thread's checksum and item count, records and file digests by id."""

    threads: dict[str, tuple[str, int]] = field(default_factory=dict[str, tuple[str, int]])
    attachments: dict[str, str] = field(default_factory=dict[str, str])
    files: dict[str, str] = field(default_factory=dict[str, str])

    def counts(self) -> Counts:
        items = sum(count for _, count in self.threads.values())
        return Counts(len(self.threads), items, len(self.attachments), len(self.files))


async def verify_copy(
    source: Store[Any], target: ScopedStore, contexts: list[Any], source_files: FileReader, target_files: FileReader
) -> tuple[list[TenantCheck], list[str]]:
    """Each tenant's counts on both sides, and one line for every difference between them."""
    checked: list[TenantCheck] = []
    mismatches: list[str] = []
    for context in contexts:
        tenant = target.turn_scope(context)
        before = await _survey(source, context, source_files)
        after = await _survey(target, context, target_files)
        checked.append(TenantCheck(tenant, before.counts(), after.counts()))
        mismatches += _compare(tenant, before, after)
    return checked, mismatches


async def _survey(store: Store[Any], context: Any, files: FileReader) -> _Survey:
    survey = _Survey()
    carried: dict[str, Attachment] = {}
    async for thread in all_threads(store, context):
        digest = hashlib.sha256(_codec.dump_thread(thread).encode())
        count = 0
        async for item in all_items(store, thread.id, context):
            digest.update(b"\n" + _codec.dump_item(item).encode())
            count += 1
            if isinstance(item, UserMessageItem):
                for attachment in item.attachments:
                    carried.setdefault(attachment.id, attachment)
        survey.threads[thread.id] = (digest.hexdigest(), count)
    records: dict[str, Attachment] = {}
    if isinstance(store, ScopedStore):
        records = {attachment.id: attachment for attachment in await store.load_tenant_attachments(context)}
    for attachment_id in carried.keys() - records.keys():
        try:
            records[attachment_id] = await store.load_attachment(attachment_id, context)
        except NotFoundError:
            continue
    survey.attachments = {attachment_id: _codec.dump_attachment(record) for attachment_id, record in records.items()}
    # A message may carry an attachment with no record: its bytes were copied all the same.
    for attachment in {**carried, **records}.values():
        opened = await files.open(attachment, context)
        if opened is not None:
            digest = hashlib.sha256()
            async for chunk in opened.chunks:
                digest.update(chunk)
            survey.files[attachment.id] = digest.hexdigest()
    return survey


def _compare(tenant: str, source: _Survey, target: _Survey) -> list[str]:
    """One line per thread, record or file that is missing, different or extra in the target."""
    lines: list[str] = []
    for thread_id, (checksum, count) in source.threads.items():
        found = target.threads.get(thread_id)
        if found is None:
            lines.append(f"{tenant}: thread {thread_id} is missing from the target")
        elif found[0] != checksum:
            counted = f"{count} items in the source, {found[1]} in the target"
            lines.append(f"{tenant}: thread {thread_id} differs ({counted})")
    lines += [
        f"{tenant}: thread {thread_id} is only in the target"
        for thread_id in sorted(target.threads.keys() - source.threads.keys())
    ]
    shared = [thread_id for thread_id in source.threads if thread_id in target.threads]
    if shared != [thread_id for thread_id in target.threads if thread_id in source.threads]:
        lines.append(f"{tenant}: the target lists the threads in another order")
    for attachment_id, record in source.attachments.items():
        found_record = target.attachments.get(attachment_id)
        if found_record is None:
            lines.append(f"{tenant}: attachment {attachment_id} is missing from the target")
        elif found_record != record:
            lines.append(f"{tenant}: attachment {attachment_id} differs")
    lines += [
        f"{tenant}: attachment {attachment_id} is only in the target"
        for attachment_id in sorted(target.attachments.keys() - source.attachments.keys())
    ]
    for attachment_id, digest in source.files.items():
        found_digest = target.files.get(attachment_id)
        if found_digest is None:
            lines.append(f"{tenant}: the file of attachment {attachment_id} is missing from the target")
        elif found_digest != digest:
            lines.append(f"{tenant}: the file of attachment {attachment_id} differs")
    return lines
