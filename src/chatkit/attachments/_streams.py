"""Attachment bytes as streams: what the upload and file routes need from an attachment store.

The routes pass an upload on as its request body arrives and send a file as it is read, so a
store that streams (`PostgresAttachmentStore`) never holds a whole file. `streaming_files`
gives a `LocalAttachmentStore` the same face; it still gathers an upload whole before writing
it, as it always did, but refuses it as soon as it grows past the limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol, runtime_checkable

from chatkit.attachments._checks import AttachmentRejectedError
from chatkit.attachments._local import LocalAttachmentStore
from chatkit.store import AttachmentStore, NotFoundError
from chatkit.types import Attachment, AttachmentUploadDescriptor

READ_SIZE = 64 * 1024
"""Bytes per read of a file on disk, as Starlette's `FileResponse` reads them."""


@dataclass(frozen=True)
class SavedFile:
    """What an upload stored: the name, the checked type and the size in bytes."""

    attachment_id: str
    name: str
    mime_type: str
    size: int


class FileStream:
    """A stored file, read as it is iterated (`async for data in stream`), once."""

    def __init__(self, name: str, mime_type: str, size: int, read: Callable[[], AsyncIterator[bytes]]) -> None:
        self.name = name
        self.mime_type = mime_type
        self.size = size
        self._read = read

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._read()


class CountedChunks:
    """A file's chunks passed on as they are read, counting their bytes (`size`)."""

    def __init__(self, chunks: AsyncIterable[bytes]) -> None:
        self._chunks = chunks
        self.size = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._chunks:
            self.size += len(chunk)
            yield chunk


@runtime_checkable
class AttachmentFiles(Protocol):
    """An attachment store as the upload and file routes use it: tenants, tokens, streamed bytes."""

    max_bytes: int

    def scope_key(self, context: Any) -> str:
        """The key of the context's tenant among the files."""
        ...

    def verify(self, purpose: Any, attachment_id: str, token: str) -> str | None:
        """The tenant a token grants `purpose` on `attachment_id` for, or None."""
        ...

    def describe(
        self,
        attachment_id: str,
        name: str,
        mime_type: str,
        scope_key: str,
        *,
        upload_descriptor: AttachmentUploadDescriptor | None = None,
        base_url: str | None = None,
    ) -> Attachment:
        """The attachment record for a stored file; an image's preview URL below `base_url` if none is configured."""
        ...

    async def save_upload(
        self,
        attachment_id: str,
        name: str,
        declared_mime_type: str | None,
        chunks: AsyncIterable[bytes],
        scope_key: str,
    ) -> SavedFile:
        """Store the single upload of an announced attachment, read from `chunks`.

        `AttachmentRejectedError`: a second upload (409), too large (413), not the declared or an
        accepted type (415); `NotFoundError`: no such attachment, or it was deleted meanwhile.
        """
        ...

    async def add_upload(
        self,
        filename: str | None,
        declared_mime_type: str | None,
        chunks: AsyncIterable[bytes],
        context: Any,
        base_url: str | None = None,
    ) -> Attachment:
        """Store a file under a fresh id of the caller's tenant (a direct upload); the record to save."""
        ...

    async def stream_file(self, attachment_id: str, scope_key: str) -> FileStream | None:
        """The uploaded file of an attachment of the tenant `scope_key`, or None."""
        ...

    async def is_reserved(self, attachment_id: str, scope_key: str) -> bool:
        """Whether the attachment still exists (announced or uploaded, and not deleted since)."""
        ...


@runtime_checkable
class AttachmentReader(Protocol):
    """A store of your own that can hand over an attachment's bytes."""

    async def read_attachment(self, attachment: Attachment) -> bytes | None:
        """The bytes uploaded for `attachment`, or None if there are none."""
        ...


@runtime_checkable
class AttachmentLinker(Protocol):
    """A store that can give the model a short-lived URL to fetch an attachment from (a presigned `GET`)."""

    async def attachment_url(self, attachment: Attachment) -> str | None:
        """A URL the model can fetch the bytes of `attachment` from, or None if there are none."""
        ...


def streaming_files(store: AttachmentStore[Any]) -> AttachmentFiles:
    """`store` as the routes use it: itself if it streams, a `LocalAttachmentStore` through an adapter."""
    if isinstance(store, LocalAttachmentStore):
        return LocalFileStreams(store)
    if isinstance(store, AttachmentFiles):
        return store
    raise TypeError(f"{type(store).__name__} cannot serve uploads: it does not stream files (see AttachmentFiles)")


async def gather(chunks: AsyncIterable[bytes], limit: int) -> bytes:
    """A whole body from its chunks; `AttachmentRejectedError` (413) as soon as it passes `limit`."""
    parts: list[bytes] = []
    size = 0
    async for piece in chunks:
        size += len(piece)
        if size > limit:
            raise AttachmentRejectedError(f"the file exceeds the limit of {limit} bytes", status_code=413)
        parts.append(piece)
    return b"".join(parts)


class LocalFileStreams:
    """A `LocalAttachmentStore` behind `AttachmentFiles`: uploads gathered whole, files read in slices."""

    def __init__(self, store: LocalAttachmentStore[Any]) -> None:
        self.store = store
        self.max_bytes = store.max_bytes

    def scope_key(self, context: Any) -> str:
        """The key of the context's tenant among the files."""
        return self.store.scope_key(context)

    def verify(self, purpose: Any, attachment_id: str, token: str) -> str | None:
        """The tenant a token grants `purpose` on `attachment_id` for, or None."""
        return self.store.verify(purpose, attachment_id, token)

    def describe(
        self,
        attachment_id: str,
        name: str,
        mime_type: str,
        scope_key: str,
        *,
        upload_descriptor: AttachmentUploadDescriptor | None = None,
        base_url: str | None = None,
    ) -> Attachment:
        """The attachment record for a stored file; an image's preview URL below `base_url` if none is configured."""
        return self.store.describe(
            attachment_id, name, mime_type, scope_key, upload_descriptor=upload_descriptor, base_url=base_url
        )

    async def save_upload(
        self,
        attachment_id: str,
        name: str,
        declared_mime_type: str | None,
        chunks: AsyncIterable[bytes],
        scope_key: str,
    ) -> SavedFile:
        """Store the single upload of an announced attachment, read from `chunks`."""
        async with self.store.upload_claim(attachment_id, scope_key):
            data = await gather(chunks, self.store.max_bytes)
            mime_type = self.store.verify_content(declared_mime_type, data)
            await self.store.save_file(attachment_id, name, mime_type, data, scope_key)
        return SavedFile(attachment_id, name, mime_type, len(data))

    async def add_upload(
        self,
        filename: str | None,
        declared_mime_type: str | None,
        chunks: AsyncIterable[bytes],
        context: Any,
        base_url: str | None = None,
    ) -> Attachment:
        """Store a file under a fresh id of the caller's tenant (a direct upload); the record to save."""
        data = await gather(chunks, self.store.max_bytes)
        mime_type = self.store.verify_content(declared_mime_type, data)
        return await self.store.add_file(filename, mime_type, data, context, base_url)

    async def stream_file(self, attachment_id: str, scope_key: str) -> FileStream | None:
        """The uploaded file of an attachment of the tenant `scope_key`, or None."""
        stored = await self.store.load_file(attachment_id, scope_key)
        if stored is None:
            return None
        path = stored.path

        async def read() -> AsyncIterator[bytes]:
            try:
                file: BinaryIO = await asyncio.to_thread(path.open, "rb")
            except FileNotFoundError:
                raise NotFoundError(f"attachment {attachment_id} was deleted") from None
            try:
                while data := await asyncio.to_thread(file.read, READ_SIZE):
                    yield data
            finally:
                file.close()

        return FileStream(stored.name, stored.mime_type, stored.size, read)

    async def is_reserved(self, attachment_id: str, scope_key: str) -> bool:
        """Whether the attachment still exists on disk (announced or uploaded, and not deleted since)."""
        return await self.store.is_reserved(attachment_id, scope_key)
