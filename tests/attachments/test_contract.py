"""What every attachment store promises: the same limits, sniffing, signed URLs and deletion."""

from __future__ import annotations

import struct
import time
import zlib
from typing import Any

import pytest

from chatkit.attachments import AttachmentRejectedError
from chatkit.types import AttachmentCreateParams, ImageAttachment

from .backends import BASE_URL, MAX_BYTES, Files

ALICE = {"user_id": "alice"}


def png(width: int = 2, height: int = 2) -> bytes:
    """A small valid PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def text(size: int) -> bytes:
    """`size` bytes of text that differ from slice to slice."""
    line = b"".join(b"line %06d of the notes\n" % index for index in range(size // 20 + 1))
    return line[:size]


def pieces(data: bytes, size: int) -> list[bytes]:
    return [data[start : start + size] for start in range(0, len(data), size)] or [b""]


async def announce(files: Files, name: str, mime_type: str, size: int, context: Any = ALICE) -> Any:
    params = AttachmentCreateParams(name=name, size=size, mime_type=mime_type)
    return await files.store.create_attachment(params, context)


async def test_a_two_phase_upload_reads_back_whole(files: Files) -> None:
    data = text(20_000)
    attachment = await announce(files, "notes.txt", "text/plain", len(data))
    assert attachment.upload_descriptor is not None
    assert attachment.upload_descriptor.method == "PUT"
    assert str(attachment.upload_descriptor.url).startswith(f"{BASE_URL}/uploads/{attachment.id}?token=")
    assert await files.download(attachment.id, ALICE) is None

    # Odd piece sizes, so that slices and request messages never line up.
    mime_type = await files.upload(attachment.id, "notes.txt", "text/plain", pieces(data, 3001), ALICE, announced=True)
    assert mime_type == "text/plain"
    assert await files.download(attachment.id, ALICE) == ("notes.txt", "text/plain", data)


async def test_a_direct_upload_is_sniffed_when_the_client_does_not_say(files: Files) -> None:
    image = png(64, 64)
    attachment_id = files.store.generate_attachment_id("image/png", ALICE)
    mime_type = await files.upload(attachment_id, "red.png", None, pieces(image, 100), ALICE, announced=False)
    assert mime_type == "image/png"
    assert await files.download(attachment_id, ALICE) == ("red.png", "image/png", image)

    described = files.store.describe(attachment_id, "red.png", mime_type)
    assert isinstance(described, ImageAttachment)
    assert str(described.preview_url).startswith(f"{BASE_URL}/files/{attachment_id}?token=")
    token = str(described.preview_url).partition("?token=")[2]
    assert files.store.verify("file", attachment_id, token)


@pytest.mark.parametrize("size", [0, 1, 511, 512, 513, 4096, 4097, 8192])
async def test_sizes_around_the_boundaries_survive(files: Files, size: int) -> None:
    data = text(size)
    attachment_id = files.store.generate_attachment_id("text/plain", ALICE)
    await files.upload(attachment_id, "a.txt", "text/plain", pieces(data, 1000), ALICE, announced=False)
    stored = await files.download(attachment_id, ALICE)
    assert stored is not None and stored[2] == data


async def test_content_that_is_not_what_it_claims_is_refused(files: Files) -> None:
    attachment = await announce(files, "photo.png", "image/png", 600)
    with pytest.raises(AttachmentRejectedError) as refused:
        await files.upload(attachment.id, "photo.png", "image/png", [text(600)], ALICE, announced=True)
    assert refused.value.status_code == 415
    assert await files.download(attachment.id, ALICE) is None


async def test_types_not_allowed_are_refused_announced_or_sniffed(files: Files) -> None:
    with pytest.raises(AttachmentRejectedError) as announced:
        await announce(files, "tool.exe", "application/x-msdownload", 10)
    assert announced.value.status_code == 415

    attachment_id = files.store.generate_attachment_id("application/zip", ALICE)
    archive = b"PK\x03\x04" + bytes(600)
    with pytest.raises(AttachmentRejectedError) as sniffed:
        await files.upload(attachment_id, "a.zip", None, [archive], ALICE, announced=False)
    assert sniffed.value.status_code == 415
    assert await files.download(attachment_id, ALICE) is None


async def test_files_over_the_limit_are_refused_announced_or_sent(files: Files) -> None:
    with pytest.raises(AttachmentRejectedError) as announced:
        await announce(files, "big.txt", "text/plain", MAX_BYTES + 1)
    assert announced.value.status_code == 413

    # A client that announces less than it sends is stopped by what it sends.
    attachment = await announce(files, "big.txt", "text/plain", 10)
    too_big = text(MAX_BYTES + 1)
    with pytest.raises(AttachmentRejectedError) as sent:
        await files.upload(attachment.id, "big.txt", "text/plain", pieces(too_big, 5000), ALICE, announced=True)
    assert sent.value.status_code == 413
    assert await files.download(attachment.id, ALICE) is None

    exactly = text(MAX_BYTES)
    attachment_id = files.store.generate_attachment_id("text/plain", ALICE)
    await files.upload(attachment_id, "max.txt", "text/plain", pieces(exactly, 5000), ALICE, announced=False)
    stored = await files.download(attachment_id, ALICE)
    assert stored is not None and stored[2] == exactly


async def test_tokens_grant_one_purpose_on_one_attachment_until_they_expire(files: Files) -> None:
    store = files.store
    token = store.sign("file", "atc_one", 60)
    assert store.verify("file", "atc_one", token)
    assert not store.verify("upload", "atc_one", token)
    assert not store.verify("file", "atc_two", token)
    assert not store.verify("file", "atc_one", token[:-2] + "xx")
    assert not store.verify("file", "atc_one", "0.forged")
    assert not store.verify("file", "atc_one", "")
    expired = f"{int(time.time()) - 1}.{token.partition('.')[2]}"
    assert not store.verify("file", "atc_one", expired)
    assert store.verify("file", "atc_one", store.sign("file", "atc_one", None))


async def test_deleting_removes_the_bytes(files: Files) -> None:
    data = text(10_000)
    attachment = await announce(files, "notes.txt", "text/plain", len(data))
    await files.upload(attachment.id, "notes.txt", "text/plain", [data], ALICE, announced=True)
    await files.store.delete_attachment(attachment.id, ALICE)
    assert await files.download(attachment.id, ALICE) is None
    # Deleting again, or something that never was, is fine.
    await files.store.delete_attachment(attachment.id, ALICE)
    await files.store.delete_attachment("atc_missing", ALICE)


async def test_generated_ids_are_unique_and_safe_in_urls(files: Files) -> None:
    ids = {files.store.generate_attachment_id("text/plain", ALICE) for _ in range(1000)}
    assert len(ids) == 1000
    assert all(attachment_id.replace("_", "").isalnum() for attachment_id in ids)
