"""Export: everything one tenant owns, as JSON Lines in the wire format plus the files."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from chatkit.attachments._checks import safe_file_name
from chatkit.data._reading import FileReader, all_items, all_threads
from chatkit.store import AttachmentStore, Store
from chatkit.stores import _codec
from chatkit.stores._base import ScopedStore
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
    async for thread in all_threads(store, context):
        await archive.append("threads.jsonl", [_codec.dump_thread(thread)])
        report.threads += 1
        lines: list[str] = []
        async for item in all_items(store, thread.id, context):
            lines.append(_codec.dump_item(item))
            if isinstance(item, UserMessageItem):
                for attachment in item.attachments:
                    attachments.setdefault(attachment.id, attachment)
        await archive.append("items.jsonl", lines)
        report.items += len(lines)
    if isinstance(store, ScopedStore):
        for attachment in await store.load_tenant_attachments(context):
            attachments.setdefault(attachment.id, attachment)
    reader = FileReader(attachment_store)
    lines = []
    for attachment in attachments.values():
        entry: dict[str, Any] = {"attachment": json.loads(_codec.dump_attachment(attachment))}
        entry.update(await _save_file(reader, attachment, context, archive))
        if entry["file"] is not None:
            report.files += 1
            report.bytes += entry["size"]
        lines.append(json.dumps(entry, ensure_ascii=False))
        report.attachments += 1
    await archive.append("attachments.jsonl", lines)
    manifest = {"format": FORMAT, "version": FORMAT_VERSION, "exported_at": time.time(), **report.as_dict()}
    await asyncio.to_thread(archive.finish, json.dumps(manifest, indent=2))
    return report


async def _save_file(reader: FileReader, attachment: Attachment, context: Any, archive: _Archive) -> dict[str, Any]:
    """Write an attachment's bytes under `files/`; its manifest fields (`file`, `size`, `sha256`), null if none."""
    opened = await reader.open(attachment, context)
    if opened is None:
        return {"file": None, "size": 0, "sha256": None}
    relative = Path("files") / attachment.id / safe_file_name(attachment.name)
    digest = hashlib.sha256()
    size = 0
    out = await asyncio.to_thread(archive.create, relative)
    try:
        async for chunk in opened.chunks:
            digest.update(chunk)
            size += len(chunk)
            await asyncio.to_thread(out.write, chunk)
    finally:
        out.close()
    return {"file": relative.as_posix(), "size": size, "sha256": digest.hexdigest()}


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
