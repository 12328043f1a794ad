"""Attachments kept as files on local disk, one directory per tenant."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
from collections.abc import AsyncGenerator, AsyncIterable, Collection
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, BinaryIO, Generic

from chatkit import _mime
from chatkit.attachments._checks import (
    DEFAULT_ALLOWED_MIME_TYPES,
    DEFAULT_PREVIEW_TTL,
    SCOPE_KEY_PATTERN,
    AttachmentRejectedError,
    is_valid_attachment_id,
    safe_file_name,
)
from chatkit.attachments._signing import SignedAttachmentStore
from chatkit.store import NotFoundError, TContext
from chatkit.stores._errors import IdConflictError
from chatkit.stores._scope import SINGLE_TENANT_SCOPE, ScopeFunction, default_scope
from chatkit.types import Attachment, AttachmentCreateParams, AttachmentUploadDescriptor

# The files of one attachment, in its directory: the bytes, what they are, and the upload claim.
_DATA, _META, _CLAIM = "data", "meta.json", "uploaded"
# With 96 random bits a clash is a broken generator; a few retries keep a tiny id space usable.
_RESERVE_ATTEMPTS = 8


class StoredFile:
    """What the disk holds about an uploaded attachment: where, what type, what name."""

    def __init__(self, path: Path, mime_type: str, name: str, size: int) -> None:
        self.path = path
        self.mime_type = mime_type
        self.name = name
        self.size = size


class LocalAttachmentStore(SignedAttachmentStore[TContext], Generic[TContext]):
    """Keeps attachment bytes under `root`, one directory per tenant, behind signed upload and preview URLs.

    `base_url` is where the ChatKit endpoint is reachable from the browser, e.g.
    `https://example.com/chatkit`; when omitted, the URL of the current request is used.
    Pass the same `secret` to every process serving the same files; a random one is generated
    otherwise, which invalidates outstanding URLs on restart. Upload URLs are valid for
    `upload_ttl` seconds and once; preview URLs for `preview_ttl` seconds (None: no expiry).

    Files are split by tenant as the stores of `chatkit.stores` split rows: by the context's
    `user_id` unless `scope=` says otherwise; contexts that name no tenant share one directory.
    A `ScopedStore` linked with `link_attachment_store` (as `ChatKitServer(store, files)` does)
    imposes its own scoping, refusal of tenant-less contexts included.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        secret: str | bytes | None = None,
        base_url: str | None = None,
        max_bytes: int = 10 * 1024 * 1024,
        allowed_mime_types: Collection[str] = DEFAULT_ALLOWED_MIME_TYPES,
        upload_ttl: float = 900.0,
        preview_ttl: float | None = DEFAULT_PREVIEW_TTL,
        scope: ScopeFunction = default_scope,
    ) -> None:
        super().__init__(
            secret=secret,
            base_url=base_url,
            max_bytes=max_bytes,
            allowed_mime_types=allowed_mime_types,
            upload_ttl=upload_ttl,
            preview_ttl=preview_ttl,
            scope=scope,
        )
        self.root = Path(root).resolve()
        # Unlinked, contexts that name no tenant share one directory (see the class docstring).
        self.scope_with(lambda context: scope(context) or SINGLE_TENANT_SCOPE)

    async def ping(self) -> None:
        """Raise unless the files' folder (or the nearest one it will be made in) can be written."""
        await asyncio.to_thread(self._check_writable)

    def _check_writable(self) -> None:
        folder = self.root
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            raise OSError(f"attachment files cannot be written under {folder}")

    # -- the AttachmentStore interface -------------------------------------------------------------

    async def create_attachment_at(
        self, input: AttachmentCreateParams, context: TContext, base_url: str | None
    ) -> Attachment:
        """Check the announced file, reserve an id, and answer where to upload it (a signed, single-use URL)."""
        mime_type = _mime.base_mime(input.mime_type)
        name = safe_file_name(input.name)
        self.check_size(input.size, name)
        self.check_mime_type(mime_type)
        scope_key = self.scope_key(context)
        attachment_id = await self._reserve_new_id(mime_type, context, scope_key)
        descriptor = AttachmentUploadDescriptor.model_validate(
            {"url": self.signed_url("upload", attachment_id, self.upload_ttl, scope_key, base_url), "method": "PUT"}
        )
        return self.describe(attachment_id, name, mime_type, scope_key, upload_descriptor=descriptor, base_url=base_url)

    async def delete_attachment(self, attachment_id: str, context: TContext) -> None:
        """Remove the attachment's files, if the caller's tenant has any; another tenant's stay."""
        await self.delete_file(attachment_id, self.scope_key(context))

    async def delete_file(self, attachment_id: str, scope_key: str) -> None:
        """Remove the files of one attachment of the tenant `scope_key`, if there are any."""
        if is_valid_attachment_id(attachment_id) and SCOPE_KEY_PATTERN.fullmatch(scope_key):
            await asyncio.to_thread(self._remove, scope_key, attachment_id)

    async def delete_tenant_files(self, scope_key: str) -> int:
        """Remove every file of the tenant `scope_key`, uploads in flight included; how many attachments had some."""
        if not SCOPE_KEY_PATTERN.fullmatch(scope_key):
            return 0
        return await asyncio.to_thread(self._remove_tenant, scope_key)

    # -- files -------------------------------------------------------------------------------------

    async def add_file(
        self, name: str | None, mime_type: str, data: bytes, context: Any, base_url: str | None = None
    ) -> Attachment:
        """Store a file under a fresh id of the caller's tenant (a direct upload); the record to save.

        An image's preview URL hangs below `base_url` unless one is configured.
        """
        name = safe_file_name(name)
        scope_key = self.scope_key(context)
        attachment_id = await self._reserve_new_id(mime_type, context, scope_key)
        try:
            async with self.upload_claim(attachment_id, scope_key):
                await self.save_file(attachment_id, name, mime_type, data, scope_key)
        except BaseException:
            await asyncio.to_thread(self._remove, scope_key, attachment_id)
            raise
        return self.describe(attachment_id, name, mime_type, scope_key, base_url=base_url)

    @asynccontextmanager
    async def upload_claim(self, attachment_id: str, scope_key: str) -> AsyncGenerator[None, None]:
        """Use an attachment's single upload: for the block, and for good if the block succeeds.

        The claim is a file created exclusively, so one upload wins even across processes
        sharing the disk; the others get `AttachmentRejectedError` (409). `NotFoundError` if the
        attachment was deleted (or never reserved).
        """
        marker = self._path(scope_key, attachment_id) / _CLAIM
        try:
            await asyncio.to_thread(_create_exclusively, marker)
        except FileExistsError:
            raise AttachmentRejectedError(f"attachment {attachment_id} was uploaded already", status_code=409) from None
        except FileNotFoundError:
            raise NotFoundError(f"attachment {attachment_id} not found") from None
        try:
            yield
        except BaseException:
            await asyncio.to_thread(marker.unlink, missing_ok=True)
            raise

    async def save_file(self, attachment_id: str, name: str, mime_type: str, data: bytes, scope_key: str) -> StoredFile:
        """Write the bytes of a reserved attachment (atomically); `NotFoundError` if it was deleted."""
        if len(data) > self.max_bytes:
            raise AttachmentRejectedError(f"the file exceeds the limit of {self.max_bytes} bytes", status_code=413)
        return await asyncio.to_thread(self._write, scope_key, attachment_id, name, mime_type, data)

    async def is_reserved(self, attachment_id: str, scope_key: str) -> bool:
        """Whether the attachment still exists on disk (reserved, and not deleted since)."""
        if not is_valid_attachment_id(attachment_id):
            return False
        return await asyncio.to_thread(self._path(scope_key, attachment_id).is_dir)

    async def load_file(self, attachment_id: str, scope_key: str) -> StoredFile | None:
        """The stored file of an attachment of the tenant `scope_key`, or None if nothing was uploaded."""
        if not is_valid_attachment_id(attachment_id) or not SCOPE_KEY_PATTERN.fullmatch(scope_key):
            return None
        return await asyncio.to_thread(self._read_meta, scope_key, attachment_id)

    async def _reserve_new_id(self, mime_type: str, context: Any, scope_key: str) -> str:
        """A fresh id whose directory this call created: no two attachments of a tenant share one."""
        for _ in range(_RESERVE_ATTEMPTS):
            attachment_id = self.generate_attachment_id(mime_type, context)
            if is_valid_attachment_id(attachment_id) and await asyncio.to_thread(
                self._reserve, scope_key, attachment_id
            ):
                return attachment_id
        raise IdConflictError(f"no free attachment id after {_RESERVE_ATTEMPTS} tries")

    def _path(self, scope_key: str, attachment_id: str) -> Path:
        if not is_valid_attachment_id(attachment_id) or not SCOPE_KEY_PATTERN.fullmatch(scope_key):
            raise ValueError(f"invalid attachment id {attachment_id!r}")
        return self.root / scope_key / attachment_id

    def _reserve(self, scope_key: str, attachment_id: str) -> bool:
        path = self._path(scope_key, attachment_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir()
        except FileExistsError:
            return False
        return True

    def _write(self, scope_key: str, attachment_id: str, name: str, mime_type: str, data: bytes) -> StoredFile:
        directory = self._path(scope_key, attachment_id)
        try:
            # Written beside their final names and renamed: a reader never sees half a file. If the
            # attachment is deleted meanwhile, its directory is gone and these calls fail.
            partial = directory / f"{_DATA}.{secrets.token_hex(4)}.part"
            partial.write_bytes(data)
            os.replace(partial, directory / _DATA)
            meta = directory / f"{_META}.{secrets.token_hex(4)}.part"
            meta.write_text(json.dumps({"mime_type": mime_type, "name": name}))
            os.replace(meta, directory / _META)
        except FileNotFoundError:
            raise NotFoundError(f"attachment {attachment_id} not found") from None
        return StoredFile(directory / _DATA, mime_type, name, len(data))

    def _read_meta(self, scope_key: str, attachment_id: str) -> StoredFile | None:
        directory = self._path(scope_key, attachment_id)
        try:
            meta = json.loads((directory / _META).read_text())
            size = (directory / _DATA).stat().st_size
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return None
        return StoredFile(directory / _DATA, str(meta["mime_type"]), str(meta["name"]), size)

    def _remove_tenant(self, scope_key: str) -> int:
        directory = self.root / scope_key
        try:
            count = sum(1 for entry in directory.iterdir() if is_valid_attachment_id(entry.name))
        except FileNotFoundError:
            return 0
        trash = self.root / f".deleted-{scope_key}-{secrets.token_hex(4)}"
        directory.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)
        return count

    def _remove(self, scope_key: str, attachment_id: str) -> None:
        directory = self._path(scope_key, attachment_id)
        # Renamed away first, in one step: an upload still writing finds its directory gone.
        trash = directory.parent / f".deleted-{attachment_id}-{secrets.token_hex(4)}"
        try:
            directory.rename(trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    # -- copying between stores --------------------------------------------------------------------

    async def import_file(
        self, attachment_id: str, scope_key: str, name: str, mime_type: str, chunks: AsyncIterable[bytes]
    ) -> bool:
        """Put a file copied from another store at its own id and tenant key; False if one is there already.

        The bytes were checked when first uploaded, so neither size nor type is checked again.
        They are written to a partial file as they arrive, and renamed into place once complete.
        """
        if await self.load_file(attachment_id, scope_key) is not None:
            return False
        directory = self._path(scope_key, attachment_id)
        partial = directory / f"{_DATA}.{secrets.token_hex(4)}.part"
        await asyncio.to_thread(_prepare_import, directory)
        out: BinaryIO = await asyncio.to_thread(partial.open, "wb")
        try:
            async for piece in chunks:
                await asyncio.to_thread(out.write, piece)
        except BaseException:
            out.close()
            await asyncio.to_thread(partial.unlink, missing_ok=True)
            raise
        out.close()
        await asyncio.to_thread(self._place_import, directory, partial, name, mime_type)
        return True

    def _place_import(self, directory: Path, partial: Path, name: str, mime_type: str) -> None:
        os.replace(partial, directory / _DATA)
        meta = directory / f"{_META}.{secrets.token_hex(4)}.part"
        meta.write_text(json.dumps({"mime_type": mime_type, "name": name}))
        os.replace(meta, directory / _META)
        # Spent, as after an upload: an upload URL still outstanding for this id cannot overwrite it.
        (directory / _CLAIM).touch()


def _create_exclusively(path: Path) -> None:
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _prepare_import(directory: Path) -> None:
    """Make an attachment's directory, clearing what a copy killed mid-file left in it."""
    directory.mkdir(parents=True, exist_ok=True)
    for leftover in directory.glob(f"{_DATA}.*.part"):
        leftover.unlink(missing_ok=True)
