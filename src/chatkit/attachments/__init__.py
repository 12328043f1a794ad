"""Attachments kept as files on local disk, and a converter that hands them to the model.

`LocalAttachmentStore` issues signed, expiring, single-use upload URLs for the client's two-phase
upload, accepts direct uploads, checks size, type (sniffing the content rather than trusting the
client) and names, keeps each tenant's files in a directory of its own, and signs the expiring
preview URLs the browser uses to show images. The HTTP endpoints that use it live in
`chatkit.asgi`. `PostgresAttachmentStore` and `S3AttachmentStore` keep the bytes elsewhere behind
the same checks. `AttachmentConverter` (imported on first use, because it pulls in the Agents
SDK) turns the stored images and files of any of them into Responses-API input.

Modules: `_checks` (ids, names, types, sniffing), `_signing` (tenants and signed URLs, no bytes),
`_local` (files on disk), `_postgres` (files in PostgreSQL), `_s3` (files in an S3 bucket),
`_streams` (uploads and downloads in slices, as the HTTP routes in `chatkit.asgi` use them) and
`_converter` (the Agents SDK bridge).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chatkit.attachments._checks import (
    DEFAULT_ALLOWED_MIME_TYPES,
    DEFAULT_PREVIEW_TTL,
    MAX_NAME_LENGTH,
    SCOPE_METADATA_KEY,
    AttachmentRejectedError,
    is_valid_attachment_id,
    safe_file_name,
    sniff_mime_type,
)
from chatkit.attachments._local import LocalAttachmentStore, StoredFile
from chatkit.attachments._signing import SignedAttachmentStore as SignedAttachmentStore
from chatkit.attachments._streams import AttachmentLinker, AttachmentReader

if TYPE_CHECKING:
    from chatkit.attachments._converter import (
        AttachmentConverter,
        LocalAttachmentConverter,
    )
    from chatkit.attachments._postgres import PostgresAttachmentStore
    from chatkit.attachments._s3 import S3AttachmentStore


_CONVERTER_NAMES = ("AttachmentConverter", "LocalAttachmentConverter")


def __getattr__(name: str) -> Any:
    # Imported on first use: the converter needs the Agents SDK, which is slow to import, the
    # PostgreSQL store loads the PostgreSQL plumbing of chatkit.stores, and the S3 store needs the
    # `s3` extra; disk users need none of them.
    if name in _CONVERTER_NAMES:
        from chatkit.attachments import _converter

        return getattr(_converter, name)
    if name == "PostgresAttachmentStore":
        from chatkit.attachments._postgres import PostgresAttachmentStore

        return PostgresAttachmentStore
    if name == "S3AttachmentStore":
        from chatkit.attachments._s3 import S3AttachmentStore

        return S3AttachmentStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_ALLOWED_MIME_TYPES",
    "DEFAULT_PREVIEW_TTL",
    "MAX_NAME_LENGTH",
    "SCOPE_METADATA_KEY",
    "AttachmentConverter",
    "AttachmentLinker",
    "AttachmentReader",
    "AttachmentRejectedError",
    "LocalAttachmentConverter",
    "LocalAttachmentStore",
    "PostgresAttachmentStore",
    "S3AttachmentStore",
    "StoredFile",
    "is_valid_attachment_id",
    "safe_file_name",
    "sniff_mime_type",
]
