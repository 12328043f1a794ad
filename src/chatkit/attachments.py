"""Attachments kept as files on local disk, and a converter that hands them to the model.

`LocalAttachmentStore` issues signed, expiring upload URLs for the client's two-phase upload,
accepts direct uploads, checks size and type (sniffing the content rather than trusting the
client), and signs the preview URLs the browser uses to show images. The HTTP endpoints that
use it live in `chatkit.asgi`. `LocalAttachmentConverter` (loaded on first use, because it
pulls in the Agents SDK) turns stored images and files into Responses-API input.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Collection
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal

from chatkit.store import AttachmentStore, TContext
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

TokenPurpose = Literal["upload", "file"]

# Ids travel in URL paths and name files on disk: anything else is refused before touching the disk.
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
_SNIFF_BYTES = 512
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


def _base_mime(mime_type: str) -> str:
    return mime_type.split(";", 1)[0].strip().lower()


class LocalAttachmentStore(AttachmentStore[TContext], Generic[TContext]):
    """Keeps attachment bytes under `root`, behind signed upload and preview URLs.

    `base_url` is where the ChatKit endpoint is reachable from the browser, e.g.
    `https://example.com/chatkit`; when omitted, the URL of the current request is used.
    Pass the same `secret` to every process serving the same files; a random one is generated
    otherwise, which invalidates outstanding URLs on restart.
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
        preview_ttl: float | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        if isinstance(secret, str):
            secret = secret.encode()
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self.base_url = base_url.rstrip("/") if base_url is not None else None
        self.max_bytes = max_bytes
        self.allowed_mime_types = tuple(_base_mime(pattern) for pattern in allowed_mime_types)
        self.upload_ttl = upload_ttl
        self.preview_ttl = preview_ttl

    # -- the AttachmentStore interface -------------------------------------------------------------

    async def create_attachment(self, input: AttachmentCreateParams, context: TContext) -> Attachment:
        """Check the announced file and answer where to upload it (a signed, expiring URL)."""
        mime_type = _base_mime(input.mime_type)
        self.check_mime_type(mime_type)
        if input.size > self.max_bytes:
            raise AttachmentRejectedError(
                f"{input.name} is {input.size} bytes; the limit is {self.max_bytes}", status_code=413
            )
        attachment_id = self.generate_attachment_id(mime_type, context)
        descriptor = AttachmentUploadDescriptor.model_validate(
            {"url": self.signed_url("upload", attachment_id, self.upload_ttl), "method": "PUT"}
        )
        return self.describe(attachment_id, input.name, mime_type, upload_descriptor=descriptor)

    async def delete_attachment(self, attachment_id: str, context: TContext) -> None:
        """Remove the attachment's file, if any."""
        if is_valid_attachment_id(attachment_id):
            await asyncio.to_thread(self._remove, attachment_id)

    # -- files -------------------------------------------------------------------------------------

    def describe(
        self,
        attachment_id: str,
        name: str,
        mime_type: str,
        *,
        upload_descriptor: AttachmentUploadDescriptor | None = None,
    ) -> Attachment:
        """The attachment record for a file: an image (with a signed preview URL) or a plain file."""
        if mime_type.startswith("image/"):
            return ImageAttachment.model_validate(
                {
                    "id": attachment_id,
                    "name": name,
                    "mime_type": mime_type,
                    "upload_descriptor": upload_descriptor,
                    "preview_url": self.signed_url("file", attachment_id, self.preview_ttl),
                }
            )
        return FileAttachment(id=attachment_id, name=name, mime_type=mime_type, upload_descriptor=upload_descriptor)

    def check_mime_type(self, mime_type: str) -> None:
        """Raise `AttachmentRejectedError` (415) unless `mime_type` is accepted."""
        mime_type = _base_mime(mime_type)
        for pattern in self.allowed_mime_types:
            if pattern == mime_type or (pattern.endswith("/*") and mime_type.startswith(pattern[:-1])):
                return
        raise AttachmentRejectedError(f"files of type {mime_type} are not accepted", status_code=415)

    def verify_content(self, declared_mime_type: str | None, head: bytes) -> str:
        """The type to record for content starting with `head`, checked against what the client declared."""
        sniffed = sniff_mime_type(head[:_SNIFF_BYTES])
        declared = _base_mime(declared_mime_type) if declared_mime_type else ""
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

    async def save_file(self, attachment_id: str, name: str, mime_type: str, data: bytes) -> StoredFile:
        """Write an upload to disk (atomically) and return what was stored."""
        if len(data) > self.max_bytes:
            raise AttachmentRejectedError(f"the file exceeds the limit of {self.max_bytes} bytes", status_code=413)
        return await asyncio.to_thread(self._write, attachment_id, name, mime_type, data)

    async def load_file(self, attachment_id: str) -> StoredFile | None:
        """The stored file of an attachment, or None if nothing was uploaded."""
        if not is_valid_attachment_id(attachment_id):
            return None
        return await asyncio.to_thread(self._read_meta, attachment_id)

    def _path(self, attachment_id: str, suffix: str = "") -> Path:
        if not is_valid_attachment_id(attachment_id):
            raise ValueError(f"invalid attachment id {attachment_id!r}")
        path = (self.root / f"{attachment_id}{suffix}").resolve()
        if path.parent != self.root:
            raise ValueError(f"invalid attachment id {attachment_id!r}")
        return path

    def _write(self, attachment_id: str, name: str, mime_type: str, data: bytes) -> StoredFile:
        self.root.mkdir(parents=True, exist_ok=True)
        path = self._path(attachment_id)
        partial = self._path(attachment_id, f".{secrets.token_hex(4)}.part")
        partial.write_bytes(data)
        os.replace(partial, path)
        meta = self._path(attachment_id, ".json")
        meta.write_text(json.dumps({"mime_type": mime_type, "name": name}))
        return StoredFile(path, mime_type, name, len(data))

    def _read_meta(self, attachment_id: str) -> StoredFile | None:
        path = self._path(attachment_id)
        try:
            meta = json.loads(self._path(attachment_id, ".json").read_text())
            size = path.stat().st_size
        except (FileNotFoundError, ValueError):
            return None
        return StoredFile(path, str(meta["mime_type"]), str(meta["name"]), size)

    def _remove(self, attachment_id: str) -> None:
        for suffix in ("", ".json"):
            self._path(attachment_id, suffix).unlink(missing_ok=True)

    # -- signed URLs -------------------------------------------------------------------------------

    def signed_url(self, purpose: TokenPurpose, attachment_id: str, ttl: float | None) -> str:
        """An absolute URL for uploading (`upload`) or fetching (`file`) an attachment, carrying a token."""
        base = self.base_url or request_base_url.get()
        if base is None:
            raise RuntimeError("LocalAttachmentStore needs base_url= when used outside an HTTP request")
        segment = "uploads" if purpose == "upload" else "files"
        return f"{base}/{segment}/{attachment_id}?token={self.sign(purpose, attachment_id, ttl)}"

    def sign(self, purpose: TokenPurpose, attachment_id: str, ttl: float | None) -> str:
        """A token granting `purpose` on `attachment_id`, valid for `ttl` seconds (None: no expiry)."""
        expires = 0 if ttl is None else int(time.time() + ttl)
        return f"{expires}.{self._mac(purpose, attachment_id, expires)}"

    def verify(self, purpose: TokenPurpose, attachment_id: str, token: str) -> bool:
        """Whether `token` grants `purpose` on `attachment_id` and has not expired."""
        expires_text, _, mac = token.partition(".")
        if not expires_text.isdigit() or len(expires_text) > 12:
            return False
        expires = int(expires_text)
        if expires and expires < time.time():
            return False
        return hmac.compare_digest(mac, self._mac(purpose, attachment_id, expires))

    def _mac(self, purpose: str, attachment_id: str, expires: int) -> str:
        digest = hmac.new(self._secret, f"{purpose}\n{attachment_id}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class _LocalAttachmentInput:
    """The attachment hook of `LocalAttachmentConverter`, kept apart so the Agents SDK loads lazily."""

    def __init__(self, attachment_store: LocalAttachmentStore[Any]) -> None:
        self.attachment_store = attachment_store

    async def attachment_to_message_content(self, attachment: Attachment) -> ResponseInputContentParam:
        """An image as `input_image`, text as `input_text`, anything else as `input_file` (inline data)."""
        stored = await self.attachment_store.load_file(attachment.id)
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
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_ALLOWED_MIME_TYPES",
    "AttachmentRejectedError",
    "LocalAttachmentConverter",
    "LocalAttachmentStore",
    "StoredFile",
    "is_valid_attachment_id",
    "sniff_mime_type",
]
