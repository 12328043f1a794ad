"""The byte-free half of an attachment store: tenants, limits, sniffing and signed URLs."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
import time
from abc import abstractmethod
from collections.abc import Callable, Collection
from typing import Any, Generic, Literal

from pydantic import AnyUrl

from chatkit import _mime
from chatkit.attachments._checks import (
    DEFAULT_ALLOWED_MIME_TYPES,
    DEFAULT_PREVIEW_TTL,
    SCOPE_KEY_PATTERN,
    SCOPE_METADATA_KEY,
    AttachmentRejectedError,
    content_matches,
    sniff_mime_type,
)
from chatkit.store import AttachmentStore, TContext
from chatkit.stores._ids import new_id
from chatkit.stores._scope import ScopeFunction, default_scope, resolve_scope
from chatkit.types import (
    Attachment,
    AttachmentCreateParams,
    AttachmentUploadDescriptor,
    FileAttachment,
    ImageAttachment,
)

TokenPurpose = Literal["upload", "file"]


class SignedAttachmentStore(AttachmentStore[TContext], Generic[TContext]):
    """The half of an attachment store that never touches bytes: tenants, limits, sniffing, signed URLs.

    `LocalAttachmentStore` and `PostgresAttachmentStore` build on it and keep the bytes.

    `base_url` is where the ChatKit endpoint is reachable from the browser; when omitted, the
    HTTP layer passes the URL the request reached the endpoint at (`create_attachment_at`). Give
    every process the same `secret`, or URLs signed by one are refused by the others. Files are
    split by tenant as the stores of `chatkit.stores` split rows: by the context's `user_id`
    unless `scope=` says otherwise.
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

    async def create_attachment(self, input: AttachmentCreateParams, context: TContext) -> Attachment:
        """Announce a file and answer where to upload it, below the configured `base_url`."""
        return await self.create_attachment_at(input, context, None)

    @abstractmethod
    async def create_attachment_at(
        self, input: AttachmentCreateParams, context: TContext, base_url: str | None
    ) -> Attachment:
        """Announce a file and answer where to upload it: below `base_url` unless one is configured."""

    # -- what is accepted --------------------------------------------------------------------

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
            preview_url = self.signed_url("file", attachment_id, self.preview_ttl, scope_key, base_url)
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
        if not separator or not base.endswith(f"/files/{attachment.id}") or not SCOPE_KEY_PATTERN.fullmatch(scope_key):
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
            if not content_matches(declared, sniffed):
                raise AttachmentRejectedError(
                    f"the content is not {declared} (it looks like {sniffed})", status_code=415
                )
            mime_type = declared
        else:
            mime_type = sniffed
        self.check_mime_type(mime_type)
        return mime_type

    # -- signed URLs -------------------------------------------------------------------------

    def signed_url(
        self, purpose: TokenPurpose, attachment_id: str, ttl: float | None, scope_key: str, base_url: str | None = None
    ) -> str:
        """An absolute URL for uploading (`upload`) or fetching (`file`) an attachment, carrying a token.

        It hangs below the configured `base_url`, else below the request's `base_url` given here.
        """
        base = self.base_url or base_url
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
        # A token is ASCII by construction; anything else (a superscript digit, an accented MAC) is
        # refused here, before int() or compare_digest() could raise on it.
        if not (expires_text.isascii() and expires_text.isdigit() and mac.isascii()) or len(expires_text) > 12:
            return None
        if not SCOPE_KEY_PATTERN.fullmatch(scope_key):
            return None
        expires = int(expires_text)
        if expires and expires < time.time():
            return None
        if not hmac.compare_digest(mac.encode(), self._mac(purpose, scope_key, attachment_id, expires).encode()):
            return None
        return scope_key

    def _mac(self, purpose: str, scope_key: str, attachment_id: str, expires: int) -> str:
        message = f"{purpose}\n{scope_key}\n{attachment_id}\n{expires}".encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
