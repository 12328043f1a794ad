"""Export: everything one tenant owns, as JSON Lines in the wire format plus the files."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from chatkit.attachments._checks import SCOPE_METADATA_KEY, safe_file_name
from chatkit.attachments._streams import AttachmentFiles, AttachmentReader, streaming_files
from chatkit.store import AttachmentStore, Store
from chatkit.stores import _codec
from chatkit.stores._base import MAX_PAGE_SIZE, ScopedStore
from chatkit.types import Attachment, UserMessageItem

FORMAT = "chatkit-export"
FORMAT_VERSION = 1

README = """This folder holds one user's ChatKit data, exported by chatkit-server.

manifest.json      what the export holds and when it was made
threads.jsonl      one thread per line (id, title, created_at, status, metadata), oldest first
items.jsonl        one thread item per line, in each thread's order; `thread_id` names its thread
attachments.jsonl  one line per attachment: {"attachment": the record, "file": the path of its
                   bytes in this folder or null, "size": bytes, "sha256": hex digest}
files/             the attachments' bytes, one folder per attachment id

Every line is a JSON object in the ChatKit wire format; no chatkit software is needed to read it.
"""


@dataclass
class ExportReport:
    """What an export wrote: rows by kind, and the files with their total size."""

    threads: int = 0
    items: int = 0
    attachments: int = 0
    files: int = 0
    bytes: int = 0

    def as_dict(self) -> dict[str, int]:
        """The counts by name, as the CLI prints them and the manifest records them."""
        return asdict(self)


async def export_tenant(
    store: Store[Any],
    context: Any,
    directory: str | Path,
    *,
    attachment_store: AttachmentStore[Any] | None = None,
) -> ExportReport:
    """Write everything the context's tenant owns into `directory` (created; it must be empty or new).

    Threads, items and attachment records go to JSON Lines files in the wire format, the bytes of
    each attachment to `files/`, with a README and a manifest, so the archive is readable without
    this package. Any `Store` works; a `ScopedStore` also yields uploads that never reached a thread.
    """
    archive = _Archive(Path(directory))
    await asyncio.to_thread(archive.prepare)
    report = ExportReport()
    attachments: dict[str, Attachment] = {}
    after: str | None = None
    while True:
        page = await store.load_threads(MAX_PAGE_SIZE, after, "asc", context)
        await archive.append("threads.jsonl", [_codec.dump_thread(thread) for thread in page.data])
        for thread in page.data:
            report.threads += 1
            report.items += await _export_items(store, thread.id, context, archive, attachments)
        if not page.has_more:
            break
        after = page.after
    if isinstance(store, ScopedStore):
        for attachment in await store.load_tenant_attachments(context):
            attachments.setdefault(attachment.id, attachment)
    reader = _Reader(attachment_store)
    lines: list[str] = []
    for attachment in attachments.values():
        entry: dict[str, Any] = {"attachment": json.loads(_codec.dump_attachment(attachment))}
        entry.update(await reader.save(attachment, archive))
        if entry["file"] is not None:
            report.files += 1
            report.bytes += entry["size"]
        lines.append(json.dumps(entry, ensure_ascii=False))
        report.attachments += 1
    await archive.append("attachments.jsonl", lines)
    manifest = {"format": FORMAT, "version": FORMAT_VERSION, "exported_at": time.time(), **report.as_dict()}
    await asyncio.to_thread(archive.finish, json.dumps(manifest, indent=2))
    return report


async def _export_items(
    store: Store[Any], thread_id: str, context: Any, archive: _Archive, attachments: dict[str, Attachment]
) -> int:
    """Write a thread's items in order; collect the attachments its messages carry. How many there were."""
    count = 0
    after: str | None = None
    while True:
        page = await store.load_thread_items(thread_id, after, MAX_PAGE_SIZE, "asc", context)
        await archive.append("items.jsonl", [_codec.dump_item(item) for item in page.data])
        count += len(page.data)
        for item in page.data:
            if isinstance(item, UserMessageItem):
                for attachment in item.attachments:
                    attachments.setdefault(attachment.id, attachment)
        if not page.has_more:
            return count
        after = page.after


class _Archive:
    """The export's folder; its methods do blocking file work and run on a worker thread."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def prepare(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if any(self.folder.iterdir()):
            raise FileExistsError(f"{self.folder} is not empty; export into a new or empty directory")
        for name in ("threads.jsonl", "items.jsonl", "attachments.jsonl"):
            (self.folder / name).touch()

    async def append(self, name: str, lines: list[str]) -> None:
        """Add one page of JSON lines to `name`."""
        if lines:
            await asyncio.to_thread(self._append, name, lines)

    def _append(self, name: str, lines: list[str]) -> None:
        with (self.folder / name).open("a", encoding="utf-8") as out:
            out.writelines(line + "\n" for line in lines)

    def create(self, relative: Path) -> BinaryIO:
        target = self.folder / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        return target.open("wb")

    def finish(self, manifest: str) -> None:
        (self.folder / "manifest.json").write_text(manifest + "\n", encoding="utf-8")
        (self.folder / "README.txt").write_text(README, encoding="utf-8")


class _Reader:
    """Copies an attachment's bytes out of whichever kind of attachment store holds them."""

    def __init__(self, attachment_store: AttachmentStore[Any] | None) -> None:
        self._store = attachment_store
        self._files: AttachmentFiles | None = None
        if attachment_store is not None and not isinstance(attachment_store, AttachmentReader):
            with contextlib.suppress(TypeError):
                self._files = streaming_files(attachment_store)

    async def save(self, attachment: Attachment, archive: _Archive) -> dict[str, Any]:
        """Write the bytes under `files/`; the manifest fields (`file`, `size`, `sha256`), null if none."""
        chunks = await self._open(attachment)
        if chunks is None:
            return {"file": None, "size": 0, "sha256": None}
        relative = Path("files") / attachment.id / safe_file_name(attachment.name)
        digest = hashlib.sha256()
        size = 0
        out = await asyncio.to_thread(archive.create, relative)
        try:
            async for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                await asyncio.to_thread(out.write, chunk)
        finally:
            out.close()
        return {"file": relative.as_posix(), "size": size, "sha256": digest.hexdigest()}

    async def _open(self, attachment: Attachment) -> AsyncIterable[bytes] | None:
        """The attachment's bytes as they are read, or None when the store has none."""
        if isinstance(self._store, AttachmentReader):
            data = await self._store.read_attachment(attachment)
            return None if data is None else _once(data)
        scope_key = (attachment.metadata or {}).get(SCOPE_METADATA_KEY)
        if self._files is None or not isinstance(scope_key, str):
            return None
        return await self._files.stream_file(attachment.id, scope_key)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data
