"""Attachment stores to run the contract suite against, behind one small driver each.

The two stores share their checks and signed URLs but not how bytes go in and out:
`LocalAttachmentStore` takes a whole body and hands back a path, `PostgresAttachmentStore`
streams both ways. A driver hides only that difference, so every contract test reads the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol

from chatkit.attachments import LocalAttachmentStore
from chatkit.stores._pg_attachments import PostgresAttachmentStore
from tests.stores.backends import drop_postgres_schema, postgres_schema, require_postgres

ATTACHMENT_BACKENDS = ["local", "postgres"]
SECRET = "test-secret"
BASE_URL = "https://chat.example/chatkit"
MAX_BYTES = 64 * 1024
# Small slices, so that even the small files of the tests span several of them.
CHUNK_SIZE = 4096


class Files(Protocol):
    """One attachment store, driven the way the upload routes drive it."""

    store: Any

    async def upload(
        self,
        attachment_id: str,
        name: str,
        declared_mime_type: str | None,
        pieces: Sequence[bytes],
        context: Any,
        *,
        announced: bool,
    ) -> str:
        """Store an upload arriving in `pieces`; the type recorded."""
        ...

    async def download(self, attachment_id: str, context: Any) -> tuple[str, str, bytes] | None:
        """The stored name, type and bytes, or None."""
        ...


class LocalFiles:
    """`LocalAttachmentStore`: the whole body in, a file path out."""

    def __init__(self, store: LocalAttachmentStore[Any]) -> None:
        self.store = store

    async def upload(
        self,
        attachment_id: str,
        name: str,
        declared_mime_type: str | None,
        pieces: Sequence[bytes],
        context: Any,
        *,
        announced: bool,
    ) -> str:
        """Store an upload arriving in `pieces`; the type recorded."""
        data = b"".join(pieces)
        mime_type = self.store.verify_content(declared_mime_type, data)
        await self.store.save_file(attachment_id, name, mime_type, data)
        return mime_type

    async def download(self, attachment_id: str, context: Any) -> tuple[str, str, bytes] | None:
        """The stored name, type and bytes, or None."""
        stored = await self.store.load_file(attachment_id)
        if stored is None:
            return None
        return stored.name, stored.mime_type, await asyncio.to_thread(stored.path.read_bytes)


class PostgresFiles:
    """`PostgresAttachmentStore`: streamed in, streamed out."""

    def __init__(self, store: PostgresAttachmentStore[Any]) -> None:
        self.store = store

    async def upload(
        self,
        attachment_id: str,
        name: str,
        declared_mime_type: str | None,
        pieces: Sequence[bytes],
        context: Any,
        *,
        announced: bool,
    ) -> str:
        """Store an upload arriving in `pieces`; the type recorded."""
        saved = await self.store.save_stream(
            attachment_id, name, declared_mime_type, stream(pieces), context, announced=announced
        )
        return saved.mime_type

    async def download(self, attachment_id: str, context: Any) -> tuple[str, str, bytes] | None:
        """The stored name, type and bytes, or None."""
        opened = await self.store.open_stream(attachment_id, context)
        if opened is None:
            return None
        return opened.name, opened.mime_type, b"".join([data async for data in opened])


async def stream(pieces: Sequence[bytes]) -> AsyncIterator[bytes]:
    """The pieces of a body as a request delivers them."""
    for piece in pieces:
        await asyncio.sleep(0)
        yield piece


def postgres_attachment_store(tmp_path: Path, **options: Any) -> PostgresAttachmentStore[Any]:
    """An unopened PostgreSQL attachment store in the schema of the test owning `tmp_path`."""
    settings: dict[str, Any] = {
        "schema": postgres_schema(tmp_path),
        "secret": SECRET,
        "base_url": BASE_URL,
        "max_bytes": MAX_BYTES,
        "chunk_size": CHUNK_SIZE,
        "max_size": 4,
        **options,
    }
    return PostgresAttachmentStore(require_postgres(), **settings)


@asynccontextmanager
async def make_files(backend: str, tmp_path: Path, **options: Any) -> AsyncIterator[Files]:
    """A ready attachment store of `backend`, behind its driver; its data goes afterwards."""
    if backend == "local":
        yield LocalFiles(
            LocalAttachmentStore(tmp_path / "files", secret=SECRET, base_url=BASE_URL, max_bytes=MAX_BYTES, **options)
        )
        return
    if backend != "postgres":
        raise ValueError(f"Unknown attachment backend {backend!r}")
    store = postgres_attachment_store(tmp_path, **options)
    try:
        async with store:
            yield PostgresFiles(store)
    finally:
        await drop_postgres_schema(store.schema)
