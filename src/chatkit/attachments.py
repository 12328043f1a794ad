"""Attachments kept as files on local disk, and a converter that hands them to the model.

`LocalAttachmentStore` issues signed, expiring, single-use upload URLs for the client's two-phase
upload, accepts direct uploads, checks size, type (sniffing the content rather than trusting the
client) and names, keeps each tenant's files in a directory of its own, and signs the expiring
preview URLs the browser uses to show images. The HTTP endpoints that use it live in
`chatkit.asgi`. `LocalAttachmentConverter` (loaded on first use, because it
pulls in the Agents SDK) turns stored images and files into Responses-API input.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import AsyncIterator, Callable, Collection
from contextlib import asynccontextmanager
from contextvars import ContextVar
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Generic, Literal

from pydantic import AnyUrl

from chatkit import _mime
from chatkit.store import AttachmentStore, NotFoundError, TContext
from chatkit.stores._errors import IdConflictError
from chatkit.stores._ids import new_id
from chatkit.stores._scope import SINGLE_TENANT_SCOPE, ScopeFunction, default_scope, resolve_scope
from chatkit.types import (
    Attachment,
    AttachmentCreateParams,
    AttachmentUploadDescriptor,
    FileAttachment,
    ImageAttachment,
)

if TYPE_CHECKING:
    from openai.types.responses import ResponseInputContentParam

    from chatkit.agents import ThreadItemConverter

DEFAULT_ALLOWED_MIME_TYPES: tuple[str, ...] = (
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
    "text/markdown",
    "text/csv",
    "application/json",
)
"""What `LocalAttachmentStore` accepts unless told otherwise: common images, PDF and plain text."""

DEFAULT_PREVIEW_TTL = 3600.0
"""How long, in seconds, a preview URL of `LocalAttachmentStore` is valid unless told otherwise."""

MAX_NAME_LENGTH = 255
"""The most characters an attachment's name keeps; longer names are cut."""

SCOPE_METADATA_KEY = "chatkit_files"
"""The key of an attachment's `metadata` (never sent to clients) naming the tenant directory of its file."""

TokenPurpose = Literal["upload", "file"]

# Ids travel in URL paths and name files on disk: anything else is refused before touching the disk.
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_SCOPE_KEY = re.compile(r"[0-9a-f]{32}")
# The files of one attachment, in its directory: the bytes, what they are, and the upload claim.
_DATA, _META, _CLAIM = "data", "meta.json", "uploaded"
# With 96 random bits a clash is a broken generator; a few retries keep a tiny id space usable.
_RESERVE_ATTEMPTS = 8
_TEXT_LIKE = {"application/json", "application/xml", "application/x-yaml", "application/yaml"}
_ZIP_LIKE_PREFIXES = ("application/vnd.openxmlformats-officedocument.", "application/vnd.oasis.opendocument.")

# Set by the HTTP layer for the duration of a request, so upload URLs can default to the URL the
# client used to reach the server.
request_base_url: ContextVar[str | None] = ContextVar("chatkit_request_base_url", default=None)


class AttachmentRejectedError(ValueError):
    """An upload was refused: too large (413), an unaccepted or mismatching type (415), or the like."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class StoredFile:
    """What the disk holds about an uploaded attachment: where, what type, what name."""

    def __init__(self, path: Path, mime_type: str, name: str, size: int) -> None:
        self.path = path
        self.mime_type = mime_type
        self.name = name
        self.size = size


def is_valid_attachment_id(attachment_id: str) -> bool:
    """Whether `attachment_id` is safe to use as a file name and URL segment."""
    return _SAFE_ID.fullmatch(attachment_id) is not None


def sniff_mime_type(head: bytes) -> str:
    """The type the first bytes of a file reveal: a known magic number, `text/plain`, or octet-stream."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"PK\x03\x04"):
        return "application/zip"
    if b"\x00" not in head and _decodes_as_utf8(head):
        return "text/plain"
    return "application/octet-stream"


def _decodes_as_utf8(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # The sniffed prefix may end inside a multi-byte character.
        return error.start >= len(head) - 3 and error.reason == "unexpected end of data"
    return True


def _content_matches(declared: str, sniffed: str) -> bool:
    if declared == sniffed:
        return True
    if sniffed == "text/plain":
        return declared.startswith("text/") or declared in _TEXT_LIKE
    if sniffed == "application/zip":
        return declared.startswith(_ZIP_LIKE_PREFIXES) or declared.endswith("+zip")
    if sniffed == "application/octet-stream":
        # Unrecognised binary content may only claim a type we cannot recognise either.
        return declared == sniffed or not (
            declared.startswith(("image/", "text/")) or declared in _TEXT_LIKE or declared == "application/pdf"
        )
    return False


class SignedAttachmentStore(AttachmentStore[TContext], Generic[TContext]):
    """The half of an attachment store that never touches bytes: tenants, limits, sniffing, signed URLs.

    `LocalAttachmentStore` and `PostgresAttachmentStore` build on it and keep the bytes.

    `base_url` is where the ChatKit endpoint is reachable from the browser; when omitted, the
    URL of the current request is used. Give every process the same `secret`, or URLs signed by
    one are refused by the others. Files are split by tenant as the stores of `chatkit.stores`
    split rows: by the context's `user_id` unless `scope=` says otherwise.
    """

    def __init__(
        self,
        *,
        secret: str | bytes | None = None,
        base_url: str | None = None,
        max_bytes: int = 10 * 1024 * 1024,
        allowed_mime_types: Collection[str] = DEFAULT_ALLOWED_MIME_TYPES,
        upload_ttl: float = 900.0,
        preview_ttl: float | None = DEFAULT_PREVIEW_TTL,
        scope: ScopeFunction = default_scope,
        single_tenant: bool = False,
    ) -> None:
        if isinstance(secret, str):
            secret = secret.encode()
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self.base_url = base_url.rstrip("/") if base_url is not None else None
        self.max_bytes = max_bytes
        self.allowed_mime_types = tuple(_mime.base_mime(pattern) for pattern in allowed_mime_types)
        self.upload_ttl = upload_ttl
        self.preview_ttl = preview_ttl
        self._resolve_scope: Callable[[Any], str] = functools.partial(resolve_scope, scope, single_tenant)

    # -- tenants -----------------------------------------------------------------------------

    def scope_with(self, resolve: Callable[[Any], str]) -> None:
        """Take each context's tenant from `resolve` (a linked `ScopedStore` passes its own)."""
        self._resolve_scope = resolve

    def scope_key(self, context: Any) -> str:
        """The key of the context's tenant among the files: a hash of its scope."""
        return hashlib.sha256(self._resolve_scope(context).encode()).hexdigest()[:32]

    def generate_attachment_id(self, mime_type: str, context: TContext) -> str:
        """A fresh attachment id: `atc_`, then a time-ordered value with 96 random bits."""
        return new_id("attachment")

    # -- what is accepted --------------------------------------------------------------------

    def describe(
        self,
        attachment_id: str,
        name: str,
        mime_type: str,
        scope_key: str,
        *,
        upload_descriptor: AttachmentUploadDescriptor | None = None,
    ) -> Attachment:
        """The attachment record for a file: an image (with a signed preview URL) or a plain file.

        Its `metadata` names the tenant, so the file can be found from the record alone.
        """
        fields: dict[str, Any] = {
            "id": attachment_id,
            "name": name,
            "mime_type": mime_type,
            "upload_descriptor": upload_descriptor,
            "metadata": {SCOPE_METADATA_KEY: scope_key},
        }
        if mime_type.startswith("image/"):
            preview_url = self.signed_url("file", attachment_id, self.preview_ttl, scope_key)
            return ImageAttachment.model_validate({**fields, "preview_url": preview_url})
        return FileAttachment.model_validate(fields)

    def refresh_preview(self, attachment: Attachment) -> Attachment:
        """The attachment with a freshly signed preview URL if it is an image kept here; else unchanged.

        Preview URLs expire, but a record keeps the one signed at upload: stores linked to this one
        call this on every record they load, so an old thread still shows its images.
        """
        scope_key = (attachment.metadata or {}).get(SCOPE_METADATA_KEY)
        if not isinstance(attachment, ImageAttachment) or not isinstance(scope_key, str):
            return attachment
        base, separator, _ = str(attachment.preview_url).partition("?token=")
        if not separator or not base.endswith(f"/files/{attachment.id}") or not _SCOPE_KEY.fullmatch(scope_key):
            return attachment
        token = self.sign("file", attachment.id, self.preview_ttl, scope_key)
        return attachment.model_copy(update={"preview_url": AnyUrl(f"{base}?token={token}")})

    def check_size(self, size: int, name: str = "the file") -> None:
        """Raise `AttachmentRejectedError` for a declared size below zero (400) or over `max_bytes` (413)."""
        if size < 0:
            raise AttachmentRejectedError(f"{name} cannot be {size} bytes long", status_code=400)
        if size > self.max_bytes:
            raise AttachmentRejectedError(f"{name} is {size} bytes; the limit is {self.max_bytes}", status_code=413)

    def check_mime_type(self, mime_type: str) -> None:
        """Raise `AttachmentRejectedError` (415) unless `mime_type` is accepted."""
        mime_type = _mime.base_mime(mime_type)
        for pattern in self.allowed_mime_types:
            if pattern == mime_type or (pattern.endswith("/*") and mime_type.startswith(pattern[:-1])):
                return
        raise AttachmentRejectedError(f"files of type {mime_type} are not accepted", status_code=415)

    def verify_content(self, declared_mime_type: str | None, head: bytes) -> str:
        """The type to record for content starting with `head`, checked against what the client declared."""
        sniffed = sniff_mime_type(head[: _mime.SNIFF_BYTES])
        declared = _mime.base_mime(declared_mime_type) if declared_mime_type else ""
        if declared and declared != "application/octet-stream":
            if not _content_matches(declared, sniffed):
                raise AttachmentRejectedError(
                    f"the content is not {declared} (it looks like {sniffed})", status_code=415
                )
            mime_type = declared
        else:
            mime_type = sniffed
        self.check_mime_type(mime_type)
        return mime_type

    # -- signed URLs -------------------------------------------------------------------------

    def signed_url(self, purpose: TokenPurpose, attachment_id: str, ttl: float | None, scope_key: str) -> str:
        """An absolute URL for uploading (`upload`) or fetching (`file`) an attachment, carrying a token."""
        base = self.base_url or request_base_url.get()
        if base is None:
            raise RuntimeError(f"{type(self).__name__} needs base_url= when used outside an HTTP request")
        segment = "uploads" if purpose == "upload" else "files"
        return f"{base}/{segment}/{attachment_id}?token={self.sign(purpose, attachment_id, ttl, scope_key)}"

    def sign(self, purpose: TokenPurpose, attachment_id: str, ttl: float | None, scope_key: str) -> str:
        """A token granting `purpose` on the tenant's `attachment_id`, valid for `ttl` seconds (None: no expiry)."""
        expires = 0 if ttl is None else int(time.time() + ttl)
        return f"{expires}.{scope_key}.{self._mac(purpose, scope_key, attachment_id, expires)}"

    def verify(self, purpose: TokenPurpose, attachment_id: str, token: str) -> str | None:
        """The tenant `token` grants `purpose` on `attachment_id` for, or None if invalid or expired."""
        expires_text, _, rest = token.partition(".")
        scope_key, _, mac = rest.partition(".")
        if not expires_text.isdigit() or len(expires_text) > 12 or not _SCOPE_KEY.fullmatch(scope_key):
            return None
        expires = int(expires_text)
        if expires and expires < time.time():
            return None
        if not hmac.compare_digest(mac, self._mac(purpose, scope_key, attachment_id, expires)):
            return None
        return scope_key

    def _mac(self, purpose: str, scope_key: str, attachment_id: str, expires: int) -> str:
        message = f"{purpose}\n{scope_key}\n{attachment_id}\n{expires}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class LocalAttachmentStore(SignedAttachmentStore[TContext], Generic[TContext]):
    """Keeps attachment bytes under `root`, one directory per tenant, behind signed upload and preview URLs.

    `base_url` is where the ChatKit endpoint is reachable from the browser, e.g.
    `https://example.com/chatkit`; when omitted, the URL of the current request is used.
    Pass the same `secret` to every process serving the same files; a random one is generated
    otherwise, which invalidates outstanding URLs on restart. Upload URLs are valid for
    `upload_ttl` seconds and once; preview URLs for `preview_ttl` seconds (None: no expiry).

    Files are split by tenant as the stores of `chatkit.stores` split rows: by the context's
    `user_id` unless `scope=` says otherwise; contexts that name no tenant share one directory.
    A `ScopedStore` linked with `link_attachment_store` (as `chatkit.asgi.create_app` does)
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

    # -- the AttachmentStore interface -------------------------------------------------------------

    async def create_attachment(self, input: AttachmentCreateParams, context: TContext) -> Attachment:
        """Check the announced file, reserve an id, and answer where to upload it (a signed, single-use URL)."""
        mime_type = _mime.base_mime(input.mime_type)
        name = safe_file_name(input.name)
        self.check_size(input.size, name)
        self.check_mime_type(mime_type)
        scope_key = self.scope_key(context)
        attachment_id = await self._reserve_new_id(mime_type, context, scope_key)
        descriptor = AttachmentUploadDescriptor.model_validate(
            {"url": self.signed_url("upload", attachment_id, self.upload_ttl, scope_key), "method": "PUT"}
        )
        return self.describe(attachment_id, name, mime_type, scope_key, upload_descriptor=descriptor)

    async def delete_attachment(self, attachment_id: str, context: TContext) -> None:
        """Remove the attachment's files, if the caller's tenant has any; another tenant's stay."""
        if is_valid_attachment_id(attachment_id):
            await asyncio.to_thread(self._remove, self.scope_key(context), attachment_id)

    # -- files -------------------------------------------------------------------------------------

    async def add_file(self, name: str | None, mime_type: str, data: bytes, context: Any) -> Attachment:
        """Store a file under a fresh id of the caller's tenant (a direct upload); the record to save."""
        name = safe_file_name(name)
        scope_key = self.scope_key(context)
        attachment_id = await self._reserve_new_id(mime_type, context, scope_key)
        try:
            async with self.upload_claim(attachment_id, scope_key):
                await self.save_file(attachment_id, name, mime_type, data, scope_key)
        except BaseException:
            await asyncio.to_thread(self._remove, scope_key, attachment_id)
            raise
        return self.describe(attachment_id, name, mime_type, scope_key)

    @asynccontextmanager
    async def upload_claim(self, attachment_id: str, scope_key: str) -> AsyncIterator[None]:
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
        if not is_valid_attachment_id(attachment_id) or not _SCOPE_KEY.fullmatch(scope_key):
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
        if not is_valid_attachment_id(attachment_id) or not _SCOPE_KEY.fullmatch(scope_key):
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

    def _remove(self, scope_key: str, attachment_id: str) -> None:
        directory = self._path(scope_key, attachment_id)
        # Renamed away first, in one step: an upload still writing finds its directory gone.
        trash = directory.parent / f".deleted-{attachment_id}-{secrets.token_hex(4)}"
        try:
            directory.rename(trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)


def safe_file_name(filename: str | None) -> str:
    """A display name from a client-supplied file name: no directories, no control or bidi characters,
    at most 255 characters; "upload" when nothing is left."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    name = "".join(char for char in name if char.isprintable())[:MAX_NAME_LENGTH].strip()
    return name or "upload"


def _create_exclusively(path: Path) -> None:
    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


class _LocalAttachmentInput:
    """The attachment hook of `LocalAttachmentConverter`, kept apart so the Agents SDK loads lazily."""

    def __init__(self, attachment_store: LocalAttachmentStore[Any]) -> None:
        self.attachment_store = attachment_store

    async def attachment_to_message_content(self, attachment: Attachment) -> ResponseInputContentParam:
        """An image as `input_image`, text as `input_text`, anything else as `input_file` (inline data)."""
        scope_key = (attachment.metadata or {}).get(SCOPE_METADATA_KEY)
        stored = None
        if isinstance(scope_key, str):
            stored = await self.attachment_store.load_file(attachment.id, scope_key)
        if stored is None:
            return {"type": "input_text", "text": f"[attachment {attachment.name} was never uploaded]"}
        data = await asyncio.to_thread(stored.path.read_bytes)
        mime_type = stored.mime_type
        inline = f"data:{mime_type};base64,{base64.b64encode(data).decode()}"
        if mime_type.startswith("image/"):
            return {"type": "input_image", "image_url": inline, "detail": "auto"}
        if mime_type.startswith("text/") or mime_type in _TEXT_LIKE:
            text = data.decode("utf-8", errors="replace")
            return {"type": "input_text", "text": f"Attached file {attachment.name}:\n{text}"}
        return {"type": "input_file", "file_data": inline, "filename": attachment.name}


if TYPE_CHECKING:
    from chatkit.stores._pg_attachments import PostgresAttachmentStore

    class LocalAttachmentConverter(_LocalAttachmentInput, ThreadItemConverter):
        """A `ThreadItemConverter` that gives the model the images and files of a `LocalAttachmentStore`."""

else:

    def __getattr__(name: str) -> Any:
        # The converter subclasses the Agents SDK bridge, which is slow to import: build it on first use.
        if name == "LocalAttachmentConverter":
            from chatkit.agents import ThreadItemConverter

            converter = type(
                "LocalAttachmentConverter",
                (_LocalAttachmentInput, ThreadItemConverter),
                {
                    "__doc__": "A `ThreadItemConverter` that gives the model the images and files of a "
                    "`LocalAttachmentStore`.",
                    "__module__": __name__,
                },
            )
            globals()[name] = converter
            return converter
        if name == "PostgresAttachmentStore":
            # Imported on first use: it builds on chatkit.stores, which imports this module.
            from chatkit.stores._pg_attachments import PostgresAttachmentStore

            return PostgresAttachmentStore
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_ALLOWED_MIME_TYPES",
    "DEFAULT_PREVIEW_TTL",
    "MAX_NAME_LENGTH",
    "SCOPE_METADATA_KEY",
    "AttachmentRejectedError",
    "LocalAttachmentConverter",
    "LocalAttachmentStore",
    "PostgresAttachmentStore",
    "StoredFile",
    "is_valid_attachment_id",
    "safe_file_name",
    "sniff_mime_type",
]
