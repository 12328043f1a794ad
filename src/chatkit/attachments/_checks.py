"""The checks every attachment store shares: ids, names, accepted types and content sniffing."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from chatkit.errors import ChatKitError

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

# Ids travel in URL paths and name files on disk: anything else is refused before touching the disk.
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
SCOPE_KEY_PATTERN = re.compile(r"[0-9a-f]{32}")
TEXT_LIKE_TYPES = {"application/json", "application/xml", "application/x-yaml", "application/yaml"}
_ZIP_LIKE_PREFIXES = ("application/vnd.openxmlformats-officedocument.", "application/vnd.oasis.opendocument.")


class AttachmentRejectedError(ChatKitError, ValueError):
    """An upload was refused: too large (413), an unaccepted or mismatching type (415), or the like."""

    http_code = "attachment_rejected"

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.http_status = status_code


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


def content_matches(declared: str, sniffed: str) -> bool:
    if declared == sniffed:
        return True
    if sniffed == "text/plain":
        return declared.startswith("text/") or declared in TEXT_LIKE_TYPES
    if sniffed == "application/zip":
        return declared.startswith(_ZIP_LIKE_PREFIXES) or declared.endswith("+zip")
    if sniffed == "application/octet-stream":
        # Unrecognised binary content may only claim a type we cannot recognise either.
        return declared == sniffed or not (
            declared.startswith(("image/", "text/")) or declared in TEXT_LIKE_TYPES or declared == "application/pdf"
        )
    return False


def safe_file_name(filename: str | None) -> str:
    """A display name from a client-supplied file name: no directories, no control or bidi characters,
    at most 255 characters; "upload" when nothing is left."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    name = "".join(char for char in name if char.isprintable())[:MAX_NAME_LENGTH].strip()
    return name or "upload"
