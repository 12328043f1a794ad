"""What every attachment store promises the upload routes: limits, sniffing, tokens, tenants, races."""

from __future__ import annotations

import asyncio
import re
import struct
import time
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chatkit.attachments import SCOPE_METADATA_KEY, AttachmentRejectedError
from chatkit.attachments._s3 import S3AttachmentStore
from chatkit.store import NotFoundError
from chatkit.types import Attachment, AttachmentCreateParams, ImageAttachment

from .backends import BASE_URL, MAX_BYTES, Files, make_files, read, stream

ALICE = {"user_id": "alice"}
BOB = {"user_id": "bob"}


def png(width: int = 2, height: int = 2) -> bytes:
    """A small valid PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def text(size: int) -> bytes:
    """`size` bytes of text that differ from slice to slice."""
    lines = b"".join(b"line %06d of the notes\n" % index for index in range(size // 20 + 1))
    return lines[:size]


def pieces(data: bytes, size: int) -> list[bytes]:
    """`data` cut as a request body arrives."""
    return [data[start : start + size] for start in range(0, len(data), size)] or [b""]


class Paused:
    """An upload body that stops before piece `before` until released."""

    def __init__(self, data: bytes, before: int, piece: int = 1024) -> None:
        self.pieces = pieces(data, piece)
        self.before = before
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for index, piece in enumerate(self.pieces):
            if index == self.before:
                self.reached.set()
                await self.release.wait()
            yield piece


async def announce(files: Files, name: str, mime_type: str, size: int, context: Any = ALICE) -> Attachment:
    """`attachments.create`."""
    return await files.store.create_attachment(
        AttachmentCreateParams(name=name, size=size, mime_type=mime_type), context
    )


async def upload(files: Files, attachment: Attachment, body: Any, context: Any = ALICE) -> str:
    """The second phase of a two-phase upload; the type recorded."""
    if isinstance(body, bytes):
        body = stream(pieces(body, 3001))
    scope_key = files.streams.scope_key(context)
    saved = await files.streams.save_upload(attachment.id, attachment.name, attachment.mime_type, body, scope_key)
    return saved.mime_type


async def test_a_two_phase_upload_reads_back_whole_once(files: Files) -> None:
    data = text(20_000)
    attachment = await announce(files, "notes.txt", "text/plain", len(data))
    assert attachment.upload_descriptor is not None
    assert attachment.upload_descriptor.method == "PUT"
    url = str(attachment.upload_descriptor.url)
    if isinstance(files.store, S3AttachmentStore):
        # The browser puts the bytes in the bucket (tests/attachments/test_s3.py); the app's route still works.
        assert f"/{files.store.bucket}/" in url and "X-Amz-Signature=" in url
    else:
        assert url.startswith(f"{BASE_URL}/uploads/{attachment.id}?token=")
        scope_key = files.streams.verify("upload", attachment.id, url.partition("?token=")[2])
        assert scope_key == files.streams.scope_key(ALICE)
    assert await read(files, attachment.id, ALICE) is None
    assert await files.streams.is_reserved(attachment.id, files.streams.scope_key(ALICE))

    # Odd piece sizes, so that slices and request messages never line up.
    assert await upload(files, attachment, data) == "text/plain"
    opened = await files.streams.stream_file(attachment.id, files.streams.scope_key(ALICE))
    assert opened is not None
    assert (opened.name, opened.mime_type, opened.size) == ("notes.txt", "text/plain", len(data))
    assert b"".join([chunk async for chunk in opened]) == data

    with pytest.raises(AttachmentRejectedError) as again:
        await upload(files, attachment, b"other")
    assert again.value.status_code == 409
    assert await read(files, attachment.id, ALICE) == data


async def test_a_direct_upload_is_sniffed_named_safely_and_previewed(files: Files) -> None:
    image = png(64, 64)
    attachment = await files.streams.add_upload("../../evil\u0007.png", None, stream(pieces(image, 100)), ALICE)
    assert isinstance(attachment, ImageAttachment)
    assert (attachment.name, attachment.mime_type, attachment.upload_descriptor) == ("evil.png", "image/png", None)
    assert attachment.metadata == {SCOPE_METADATA_KEY: files.streams.scope_key(ALICE)}
    assert await read(files, attachment.id, ALICE) == image

    preview = str(attachment.preview_url)
    assert preview.startswith(f"{BASE_URL}/files/{attachment.id}?token=")
    # A preview token names the tenant, so the file is found without the caller's credentials.
    scope_key = files.streams.verify("file", attachment.id, preview.partition("?token=")[2])
    assert scope_key is not None and scope_key == files.streams.scope_key(ALICE)
    opened = await files.streams.stream_file(attachment.id, scope_key)
    assert opened is not None and opened.size == len(image)


@pytest.mark.parametrize("size", [0, 1, 511, 512, 513, 4095, 4096, 4097, 8192, 12_345])
async def test_sizes_around_the_boundaries_survive(files: Files, size: int) -> None:
    data = text(size)
    attachment = await files.streams.add_upload("a.txt", "text/plain", stream(pieces(data, 1000)), ALICE)
    assert await read(files, attachment.id, ALICE) == data


async def test_content_that_is_not_what_it_claims_is_refused_and_may_be_sent_again(files: Files) -> None:
    attachment = await announce(files, "photo.png", "image/png", 600)
    with pytest.raises(AttachmentRejectedError) as refused:
        await upload(files, attachment, text(600))
    assert refused.value.status_code == 415
    assert await read(files, attachment.id, ALICE) is None
    image = png()
    assert await upload(files, attachment, image) == "image/png"
    assert await read(files, attachment.id, ALICE) == image


async def test_types_not_allowed_are_refused_announced_or_sniffed(files: Files) -> None:
    with pytest.raises(AttachmentRejectedError) as announced:
        await announce(files, "tool.exe", "application/x-msdownload", 10)
    assert announced.value.status_code == 415
    with pytest.raises(AttachmentRejectedError) as sniffed:
        await files.streams.add_upload("a.zip", None, stream([b"PK\x03\x04" + bytes(600)]), ALICE)
    assert sniffed.value.status_code == 415
    with pytest.raises(AttachmentRejectedError) as declared:
        await files.streams.add_upload("a.txt", "image/png", stream([text(600)]), ALICE)
    assert declared.value.status_code == 415


async def test_sizes_over_the_limit_or_below_zero_are_refused(files: Files) -> None:
    with pytest.raises(AttachmentRejectedError) as announced:
        await announce(files, "big.txt", "text/plain", MAX_BYTES + 1)
    assert announced.value.status_code == 413
    with pytest.raises(AttachmentRejectedError) as negative:
        await announce(files, "odd.txt", "text/plain", -1)
    assert negative.value.status_code == 400

    # A client that announces less than it sends is stopped by what it sends.
    attachment = await announce(files, "big.txt", "text/plain", 10)
    with pytest.raises(AttachmentRejectedError) as sent:
        await upload(files, attachment, text(MAX_BYTES + 1))
    assert sent.value.status_code == 413
    assert await read(files, attachment.id, ALICE) is None
    with pytest.raises(AttachmentRejectedError) as direct:
        await files.streams.add_upload("big.txt", "text/plain", stream(pieces(text(MAX_BYTES + 1), 5000)), ALICE)
    assert direct.value.status_code == 413

    exactly = text(MAX_BYTES)
    attachment = await files.streams.add_upload("max.txt", "text/plain", stream(pieces(exactly, 5000)), ALICE)
    assert await read(files, attachment.id, ALICE) == exactly


async def test_tokens_grant_one_purpose_on_one_attachment_of_one_tenant_until_they_expire(files: Files) -> None:
    store, tenant = files.store, files.streams.scope_key(ALICE)
    token = store.sign("file", "atc_one", 60, tenant)
    assert store.verify("file", "atc_one", token) == tenant
    assert store.verify("upload", "atc_one", token) is None
    assert store.verify("file", "atc_two", token) is None
    assert store.verify("file", "atc_one", token[:-2] + "xx") is None
    # Another tenant's key in the token breaks its signature.
    forged = token.replace(tenant, files.streams.scope_key(BOB))
    assert store.verify("file", "atc_one", forged) is None
    assert store.verify("file", "atc_one", "0.forged") is None
    assert store.verify("file", "atc_one", "") is None
    expires, _, rest = token.partition(".")
    assert store.verify("file", "atc_one", f"{int(time.time()) - 1}.{rest}") is None
    assert expires != "0"
    assert store.verify("file", "atc_one", store.sign("file", "atc_one", None, tenant)) == tenant


async def test_files_are_their_tenants_own(files: Files) -> None:
    attachment = await announce(files, "notes.txt", "text/plain", 6)
    bob = files.streams.scope_key(BOB)
    assert bob != files.streams.scope_key(ALICE)
    with pytest.raises(NotFoundError):
        await upload(files, attachment, b"mine!!", BOB)
    await upload(files, attachment, b"secret")
    assert await files.streams.stream_file(attachment.id, bob) is None
    assert not await files.streams.is_reserved(attachment.id, bob)
    await files.store.delete_attachment(attachment.id, BOB)
    assert await read(files, attachment.id, ALICE) == b"secret"


async def test_deleting_removes_the_bytes_for_good(files: Files) -> None:
    data = text(10_000)
    attachment = await announce(files, "notes.txt", "text/plain", len(data))
    await upload(files, attachment, data)
    await files.store.delete_attachment(attachment.id, ALICE)
    assert await read(files, attachment.id, ALICE) is None
    assert not await files.streams.is_reserved(attachment.id, files.streams.scope_key(ALICE))
    with pytest.raises(NotFoundError):
        await upload(files, attachment, data)
    # Deleting again, or something that never was, is fine.
    await files.store.delete_attachment(attachment.id, ALICE)
    await files.store.delete_attachment("atc_missing", ALICE)


async def test_an_upload_in_flight_loses_to_a_delete(backend: str, tmp_path: Path) -> None:
    async with make_files(backend, tmp_path) as first, make_files(backend, tmp_path) as second:
        data = text(30_000)
        attachment = await announce(first, "notes.txt", "text/plain", len(data))
        body = Paused(data, before=10)
        uploading = asyncio.create_task(upload(first, attachment, body))
        await asyncio.wait_for(body.reached.wait(), 10)
        await second.store.delete_attachment(attachment.id, ALICE)
        body.release.set()
        with pytest.raises(NotFoundError):
            await uploading
        assert await read(second, attachment.id, ALICE) is None
        assert await read(first, attachment.id, ALICE) is None
        assert not await first.streams.is_reserved(attachment.id, first.streams.scope_key(ALICE))


async def test_a_file_uploaded_through_one_instance_is_served_by_another(backend: str, tmp_path: Path) -> None:
    async with make_files(backend, tmp_path) as first, make_files(backend, tmp_path) as second:
        data = text(50_000)
        attachment = await announce(first, "notes.txt", "text/plain", len(data))
        await upload(first, attachment, data)
        assert await read(second, attachment.id, ALICE) == data
        await second.store.delete_attachment(attachment.id, ALICE)
        assert await read(first, attachment.id, ALICE) is None


async def test_an_upload_token_is_spent_once_even_by_racing_instances(backend: str, tmp_path: Path) -> None:
    async with make_files(backend, tmp_path) as first, make_files(backend, tmp_path) as second:
        data = text(20_000)
        attachment = await announce(first, "notes.txt", "text/plain", len(data))
        bodies = [Paused(data, before=8), Paused(data[::-1], before=8)]
        uploads = [
            asyncio.create_task(upload(files, attachment, body))
            for files, body in zip((first, second), bodies, strict=True)
        ]
        try:
            # Both bodies would pause mid-way; only the upload that won the claim gets there.
            for _ in range(250):
                if any(task.done() for task in uploads) and any(body.reached.is_set() for body in bodies):
                    break
                await asyncio.sleep(0.02)
            refused = [task for task in uploads if task.done()]
            assert len(refused) == 1
            assert [body.reached.is_set() for body in bodies].count(True) == 1
            with pytest.raises(AttachmentRejectedError) as conflict:
                refused[0].result()
            assert conflict.value.status_code == 409
        finally:
            for body in bodies:
                body.release.set()
            outcomes = await asyncio.gather(*uploads, return_exceptions=True)
        winner = 0 if bodies[0].reached.is_set() else 1
        assert outcomes[winner] == "text/plain"
        assert await read(second, attachment.id, ALICE) == (data if winner == 0 else data[::-1])


async def test_generated_ids_carry_96_random_bits_and_are_safe_in_urls(files: Files) -> None:
    ids = {files.store.generate_attachment_id("text/plain", ALICE) for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"atc_[0-9a-f]{36}", attachment_id) for attachment_id in ids)


async def test_an_expired_preview_is_signed_afresh_for_an_image_kept_here(files: Files) -> None:
    image = png()
    attachment = await files.streams.add_upload("red.png", "image/png", stream([image]), ALICE)
    assert isinstance(attachment, ImageAttachment)
    base = str(attachment.preview_url).partition("?token=")[0]
    stale = attachment.model_copy(update={"preview_url": f"{base}?token=1.{'0' * 32}.expired"})
    refreshed = files.store.refresh_preview(stale)
    assert isinstance(refreshed, ImageAttachment)
    url = str(refreshed.preview_url)
    assert url.startswith(f"{base}?token=")
    assert files.streams.verify("file", attachment.id, url.partition("?token=")[2]) == files.streams.scope_key(ALICE)
    # Records of files kept elsewhere, and plain files, are left as they are.
    foreign = stale.model_copy(update={"metadata": None})
    assert files.store.refresh_preview(foreign) is foreign
    notes = await files.streams.add_upload("a.txt", "text/plain", stream([b"hello"]), ALICE)
    assert files.store.refresh_preview(notes) is notes
