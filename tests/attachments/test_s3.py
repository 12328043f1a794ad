"""What only the S3 store does: the browser puts bytes in the bucket, checked when confirmed; parts; presigned reads.

Run against moto's S3 server over HTTP (see `backends.py`); moto stands in for S3 (docs/guides/attachments-s3.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatkit.attachments import AttachmentRejectedError
from chatkit.attachments._s3 import MIN_PART_SIZE, S3AttachmentStore
from chatkit.store import NotFoundError
from chatkit.types import Attachment, AttachmentCreateParams
from tests.stores.backends import make_store
from tests.stores.samples import thread, user_message

from .backends import MAX_BYTES, Files, make_files, read, stream
from .test_contract import ALICE, BOB, pieces, png, text

pytestmark = pytest.mark.service


@pytest.fixture
async def s3(tmp_path: Path) -> AsyncIterator[Files]:
    """A ready S3 attachment store on a bucket of its own."""
    async with make_files("s3", tmp_path) as opened:
        yield opened


def tenant(files: Files) -> str:
    """Alice's tenant key."""
    return files.streams.scope_key(ALICE)


def bucket_store(files: Files) -> S3AttachmentStore[Any]:
    """The S3 store under test."""
    assert isinstance(files.store, S3AttachmentStore)
    return files.store


async def keys(store: S3AttachmentStore[Any]) -> list[str]:
    """Every object key in the store's bucket, read from the bucket itself."""
    listed = await (await store._s3()).list_objects_v2(Bucket=store.bucket)  # pyright: ignore[reportPrivateUsage]
    return sorted(entry.get("Key", "") for entry in listed.get("Contents", []))


async def browser_upload(
    files: Files, name: str, mime_type: str, data: bytes, context: Any = ALICE, announced: int | None = None
) -> Attachment:
    """`attachments.create` (of `announced` bytes, else the true size), then the browser's `PUT` to the bucket."""
    size = len(data) if announced is None else announced
    attachment = await files.store.create_attachment(
        AttachmentCreateParams(name=name, size=size, mime_type=mime_type), context
    )
    assert attachment.upload_descriptor is not None and attachment.upload_descriptor.method == "PUT"
    async with httpx.AsyncClient() as client:
        response = await client.put(str(attachment.upload_descriptor.url), content=data)
    assert response.status_code == 200, response.text
    return attachment


async def test_bytes_put_by_the_browser_are_served_once_confirmed(s3: Files) -> None:
    store = bucket_store(s3)
    data = text(20_000)
    attachment = await browser_upload(s3, "notes.txt", "text/plain", data)
    confirmed = await store.confirm_upload(attachment.id, ALICE)
    assert (confirmed.id, confirmed.name, confirmed.mime_type) == (attachment.id, "notes.txt", "text/plain")
    assert await read(s3, attachment.id, ALICE) == data
    # Every object sits under the tenant's hashed key; the user's id appears nowhere.
    tenant = s3.streams.scope_key(ALICE)
    assert all(key.startswith(f"chatkit/{tenant}/{attachment.id}/") for key in await keys(store))
    assert not any("alice" in key for key in await keys(store))


async def test_a_second_put_on_the_same_url_cannot_replace_checked_bytes(s3: Files) -> None:
    store = bucket_store(s3)
    attachment = await browser_upload(s3, "notes.txt", "text/plain", b"first version")
    await store.confirm_upload(attachment.id, ALICE)
    assert attachment.upload_descriptor is not None
    async with httpx.AsyncClient() as client:
        await client.put(str(attachment.upload_descriptor.url), content=b"PK\x03\x04" + bytes(600))
    assert await read(s3, attachment.id, ALICE) == b"first version"
    # Nor can an upload through the app's own route: the attachment had its single upload.
    with pytest.raises(AttachmentRejectedError) as again:
        await s3.streams.save_upload(attachment.id, "notes.txt", "text/plain", stream([b"other"]), tenant(s3))
    assert again.value.status_code == 409


async def test_what_the_bucket_received_but_the_store_does_not_allow_is_refused_and_deleted(s3: Files) -> None:
    store = bucket_store(s3)
    # A client may announce less than it puts: the bucket takes it, the confirmation does not.
    too_big = await browser_upload(s3, "big.txt", "text/plain", text(MAX_BYTES + 1), announced=10)
    with pytest.raises(AttachmentRejectedError) as size:
        await store.confirm_upload(too_big.id, ALICE)
    assert size.value.status_code == 413
    posing = await browser_upload(s3, "photo.png", "image/png", text(600))
    with pytest.raises(AttachmentRejectedError) as kind:
        await store.confirm_upload(posing.id, ALICE)
    assert kind.value.status_code == 415
    # Neither object is left; only the two records wait for another try.
    assert [key.rpartition("/")[2] for key in await keys(store)] == ["record", "record"]
    assert await read(s3, posing.id, ALICE) is None


async def test_confirming_needs_the_bytes_and_the_owner(s3: Files) -> None:
    store = bucket_store(s3)
    attachment = await s3.store.create_attachment(
        AttachmentCreateParams(name="a.txt", size=5, mime_type="text/plain"), ALICE
    )
    with pytest.raises(NotFoundError):
        await store.confirm_upload(attachment.id, ALICE)
    await browser_upload(s3, "b.txt", "text/plain", b"hello")
    with pytest.raises(NotFoundError):
        await store.confirm_upload(attachment.id, BOB)


async def test_a_large_upload_through_the_app_is_sent_in_parts(tmp_path: Path) -> None:
    limit = 3 * MIN_PART_SIZE
    async with make_files("s3", tmp_path, max_bytes=limit, part_size=MIN_PART_SIZE) as files:
        data = text(2 * MIN_PART_SIZE + 12_345)
        attachment = await files.streams.add_upload("big.txt", "text/plain", stream(pieces(data, 256 * 1024)), ALICE)
        assert await read(files, attachment.id, ALICE) == data
        with pytest.raises(AttachmentRejectedError):
            await files.streams.add_upload("huge.txt", "text/plain", stream(pieces(text(limit + 1), 1 << 20)), ALICE)
        store = bucket_store(files)
        # The refused upload left no object and no unfinished multipart upload behind.
        assert len(await keys(store)) == 2
        pending = await (await store._s3()).list_multipart_uploads(Bucket=store.bucket)  # pyright: ignore[reportPrivateUsage]
        assert not pending.get("Uploads")


async def test_a_presigned_get_serves_the_bytes_for_a_while(s3: Files) -> None:
    store = bucket_store(s3)
    image = png(8, 8)
    attachment = await s3.streams.add_upload("red.png", None, stream([image]), ALICE)
    url = await store.attachment_url(attachment)
    assert url is not None and "X-Amz-Expires=300" in url
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert (response.status_code, response.content) == (200, image)
    assert response.headers["content-type"] == "image/png"


async def test_deleting_removes_every_object_of_the_attachment(s3: Files) -> None:
    store = bucket_store(s3)
    kept = await s3.streams.add_upload("kept.txt", "text/plain", stream([b"kept"]), BOB)
    attachment = await browser_upload(s3, "notes.txt", "text/plain", b"notes")
    await store.confirm_upload(attachment.id, ALICE)
    await s3.store.delete_attachment(attachment.id, ALICE)
    assert all(f"/{kept.id}/" in key for key in await keys(store))
    assert await read(s3, kept.id, BOB) == b"kept"


async def test_deleting_a_thread_deletes_its_objects_through_the_linked_store(s3: Files, tmp_path: Path) -> None:
    store = bucket_store(s3)
    async with make_store("memory", tmp_path) as threads:
        threads.link_attachment_store(store)
        await threads.save_thread(thread("thr_1"), ALICE)
        await threads.add_thread_item("thr_1", user_message("thr_1", "msg_1"), ALICE)
        for name in ("a.txt", "b.txt"):
            attachment = await s3.streams.add_upload(name, "text/plain", stream([b"in the thread"]), ALICE)
            await threads.save_attachment(attachment.model_copy(update={"thread_id": "thr_1"}), ALICE)
        elsewhere = await s3.streams.add_upload("c.txt", "text/plain", stream([b"kept"]), ALICE)
        assert len(await keys(store)) == 6
        await threads.delete_thread("thr_1", ALICE)
    assert all(f"/{elsewhere.id}/" in key for key in await keys(store))
    assert len(await keys(store)) == 2


async def test_ping_answers_for_the_bucket_and_fails_without_it(tmp_path: Path) -> None:
    async with make_files("s3", tmp_path) as files:
        await bucket_store(files).ping()
    missing: S3AttachmentStore[Any] = S3AttachmentStore("no-such-bucket", **_connection(bucket_store(files)))
    async with missing:
        with pytest.raises(Exception, match="404|Not Found|NoSuchBucket"):
            await missing.ping()


def _connection(store: S3AttachmentStore[Any]) -> dict[str, Any]:
    return dict(store._client_options)  # pyright: ignore[reportPrivateUsage]


async def test_reads_of_a_new_upload_at_once_all_get_it(s3: Files) -> None:
    # The preview route and the converter may both read a file the browser just put in the bucket:
    # each starts confirming it, and all but one find the upload taken when they come to copy it.
    data = b"read by several at once\n"

    async def read_after(delay: float, attachment_id: str) -> bytes | None:
        await asyncio.sleep(delay)
        return await read(s3, attachment_id, ALICE)

    for _ in range(3):
        attachment = await browser_upload(s3, "notes.txt", "text/plain", data)
        # Staggered, so that some start while another is between its copy and its cleanup.
        reads = await asyncio.gather(*(read_after(n * 0.004, attachment.id) for n in range(8)))
        assert reads == [data] * 8
