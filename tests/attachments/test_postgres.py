"""What only the PostgreSQL attachment store promises: slices, bounded memory, cleanup after a crash."""

from __future__ import annotations

import asyncio
import sys
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from chatkit.attachments import AttachmentRejectedError
from chatkit.attachments._postgres import PostgresAttachmentStore
from chatkit.store import NotFoundError
from chatkit.stores import PostgresStore, StoreError, StoreUnavailableError
from chatkit.stores._postgres import SCHEMA_VERSION as STORE_SCHEMA_VERSION
from chatkit.types import AttachmentCreateParams
from tests.stores.backends import POSTGRES_DSN, drop_postgres_schema

from .backends import CHUNK_SIZE, Files, make_files, postgres_attachment_store, read, stream
from .test_contract import Paused, pieces, text

pytestmark = pytest.mark.service

ALICE = {"user_id": "alice"}

# A process that dies (SIGKILL) in the middle of an upload, after its first slices are written.
DIE_MID_UPLOAD_CHILD = """
import asyncio, sys
from chatkit.attachments._postgres import PostgresAttachmentStore
from chatkit.types import AttachmentCreateParams

ALICE = {"user_id": "alice"}

async def body():
    for _ in range(3):
        yield b"x" * 4096
    print("written", flush=True)
    await asyncio.sleep(60)

async def main():
    store = PostgresAttachmentStore(sys.argv[1], schema=sys.argv[2], base_url="https://x", chunk_size=4096)
    async with store:
        params = AttachmentCreateParams(name="notes.txt", size=12288, mime_type="text/plain")
        attachment = await store.create_attachment(params, ALICE)
        print(attachment.id, flush=True)
        await store.save_upload(attachment.id, "notes.txt", "text/plain", body(), store.scope_key(ALICE))

asyncio.run(main())
"""


@pytest.fixture
async def files(tmp_path: Path) -> AsyncIterator[Files]:
    async with make_files("postgres", tmp_path) as opened:
        yield opened


async def count(schema: str, table: str) -> int:
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN) as conn:
        cursor = await conn.execute(f'SELECT count(*) FROM "{schema}".{table}'.encode())
        found = await cursor.fetchone()
        assert found is not None
        return int(found[0])


async def announce(store: Any, size: int) -> str:
    params = AttachmentCreateParams(name="notes.txt", size=size, mime_type="text/plain")
    return (await store.create_attachment(params, ALICE)).id


async def test_bytes_are_kept_in_slices_that_go_with_the_file(files: Files) -> None:
    store = files.store
    assert isinstance(store, PostgresAttachmentStore)
    data = text(50_000)
    attachment_id = await announce(store, len(data))
    await store.save_upload(
        attachment_id, "notes.txt", "text/plain", stream(pieces(data, 7000)), store.scope_key(ALICE)
    )
    assert await count(store.schema, "attachment_chunks") == -(-len(data) // CHUNK_SIZE)
    await store.delete_attachment(attachment_id, ALICE)
    assert await count(store.schema, "attachment_chunks") == 0
    assert await count(store.schema, "attachment_files") == 0


async def test_failed_uploads_leave_no_bytes_behind(files: Files) -> None:
    store = files.store
    assert isinstance(store, PostgresAttachmentStore)
    attachment_id = await announce(store, 10)
    with pytest.raises(AttachmentRejectedError):
        body = stream(pieces(text(store.max_bytes + 1), 8192))
        await store.save_upload(attachment_id, "notes.txt", "text/plain", body, store.scope_key(ALICE))
    with pytest.raises(AttachmentRejectedError):
        await store.add_upload("a.png", "image/png", stream(pieces(text(20_000), 8192)), ALICE)
    assert await count(store.schema, "attachment_chunks") == 0
    # The announced file waits for another try; the direct upload left no row.
    assert await count(store.schema, "attachment_files") == 1


async def test_a_delete_just_before_the_upload_finishes_wins(tmp_path: Path) -> None:
    async with make_files("postgres", tmp_path) as first, make_files("postgres", tmp_path) as second:
        store = first.store
        assert isinstance(store, PostgresAttachmentStore)
        data = text(3 * CHUNK_SIZE)
        attachment_id = await announce(store, len(data))
        # Paused after the last piece: every slice is written, only the finishing update is left.
        body = Paused(data, before=len(pieces(data, 1024)))

        async def whole_then_wait() -> AsyncIterator[bytes]:
            async for piece in body:
                yield piece
            body.reached.set()
            await body.release.wait()

        scope_key = store.scope_key(ALICE)
        uploading = asyncio.create_task(
            store.save_upload(attachment_id, "notes.txt", "text/plain", whole_then_wait(), scope_key)
        )
        await asyncio.wait_for(body.reached.wait(), 10)
        assert await count(store.schema, "attachment_chunks") == 3
        await second.store.delete_attachment(attachment_id, ALICE)
        body.release.set()
        with pytest.raises(NotFoundError):
            await uploading
        assert await count(store.schema, "attachment_files") == 0
        assert await count(store.schema, "attachment_chunks") == 0


async def test_a_process_killed_mid_upload_is_cleaned_up_by_the_next_one(tmp_path: Path) -> None:
    store = postgres_attachment_store(tmp_path, stale_upload_after=60)
    try:
        await store.open()
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", DIE_MID_UPLOAD_CHILD, POSTGRES_DSN, store.schema, stdout=asyncio.subprocess.PIPE
        )
        assert child.stdout is not None
        attachment_id = (await asyncio.wait_for(child.stdout.readline(), 30)).decode().strip()
        assert await asyncio.wait_for(child.stdout.readline(), 30) == b"written\n"
        child.kill()
        await child.wait()
        assert await count(store.schema, "attachment_chunks") >= 2

        # While the claim is fresh, nobody may take the upload over.
        scope_key = store.scope_key(ALICE)
        with pytest.raises(AttachmentRejectedError, match="being uploaded"):
            await store.save_upload(attachment_id, "notes.txt", "text/plain", stream([b"hi"]), scope_key)
        # The next process to start, once the upload is stale, clears what the dead one left, and
        # the upload may be sent again.
        store.stale_upload_after = 0
        await store.aclose()
        await store.open()
        assert await count(store.schema, "attachment_chunks") == 0
        await store.save_upload(attachment_id, "notes.txt", "text/plain", stream([b"again"]), scope_key)
        opened = await store.stream_file(attachment_id, scope_key)
        assert opened is not None and b"".join([data async for data in opened]) == b"again"
    finally:
        await store.aclose()
        await drop_postgres_schema(store.schema)


async def test_a_stale_claim_is_taken_over_and_its_slices_dropped(tmp_path: Path) -> None:
    async with make_files("postgres", tmp_path, stale_upload_after=0.3) as first:
        store = first.store
        assert isinstance(store, PostgresAttachmentStore)
        data = text(5 * CHUNK_SIZE)
        attachment_id = await announce(store, len(data))
        scope_key = store.scope_key(ALICE)
        stalled = Paused(data, before=12)
        abandoned = asyncio.create_task(store.save_upload(attachment_id, "notes.txt", "text/plain", stalled, scope_key))
        await asyncio.wait_for(stalled.reached.wait(), 10)
        await asyncio.sleep(0.4)
        await store.save_upload(attachment_id, "notes.txt", "text/plain", stream([data[::-1]]), scope_key)
        # The stalled upload lost its claim: its next slice is refused, and the new file stands.
        stalled.release.set()
        with pytest.raises(NotFoundError):
            await abandoned
        assert await read(first, attachment_id, ALICE) == data[::-1]
        assert await count(store.schema, "attachment_chunks") == 5


async def test_uploads_and_downloads_hold_a_slice_not_the_file(tmp_path: Path) -> None:
    size = 4 * 1024 * 1024
    piece = b"0123456789abcdef" * 4096

    async def body() -> AsyncIterator[bytes]:
        for _ in range(size // len(piece)):
            yield piece

    async with make_files("postgres", tmp_path, max_bytes=size, chunk_size=256 * 1024) as files:
        tracemalloc.start()
        try:
            attachment = await files.streams.add_upload("big.txt", "text/plain", body(), ALICE)
            _, upload_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            opened = await files.streams.stream_file(attachment.id, files.streams.scope_key(ALICE))
            assert opened is not None and opened.size == size
            total = 0
            async for data in opened:
                assert data == piece * (len(data) // len(piece))
                total += len(data)
            _, download_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert total == size
    # A few slices at most (the one being filled, the copy sent), never the 4 MiB file.
    assert upload_peak < 1.5 * 1024 * 1024, upload_peak
    assert download_peak < 1.5 * 1024 * 1024, download_peak


async def test_it_shares_a_schema_with_the_postgres_store(tmp_path: Path) -> None:
    stores = [postgres_attachment_store(tmp_path) for _ in range(4)]
    schema = stores[0].schema
    try:
        # Several processes starting at once migrate once, whichever comes first.
        await asyncio.gather(*(store.open() for store in stores))
        async with PostgresStore(POSTGRES_DSN, schema=schema) as store:
            assert await store.schema_version() == STORE_SCHEMA_VERSION
        assert await stores[0].schema_version() == 1
        async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as conn:
            await conn.execute(f'UPDATE "{schema}".attachment_schema_version SET version = 9'.encode())
        with pytest.raises(StoreError, match="version 9"):
            await postgres_attachment_store(tmp_path).open()
    finally:
        for store in stores:
            await store.aclose()
        await drop_postgres_schema(schema)


async def test_an_unreachable_server_is_store_unavailable() -> None:
    store: PostgresAttachmentStore[Any] = PostgresAttachmentStore("postgresql://postgres@127.0.0.1:9/none", timeout=0.5)
    with pytest.raises(StoreUnavailableError):
        await store.open()


async def backend_pid(conn: psycopg.AsyncConnection[Any]) -> int:
    return conn.info.backend_pid


async def test_a_dropped_connection_is_replaced_without_failing_a_download(tmp_path: Path) -> None:
    async with make_files("postgres", tmp_path, min_size=1, max_size=1) as files:
        store = files.store
        assert isinstance(store, PostgresAttachmentStore)
        data = text(3 * CHUNK_SIZE)
        attachment = await files.streams.add_upload("notes.txt", "text/plain", stream([data]), ALICE)
        pid = await store.database.run(backend_pid)
        async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        assert await read(files, attachment.id, ALICE) == data


async def test_undoing_an_upload_that_did_finish_keeps_its_bytes(files: Files) -> None:
    # What happens when the answer to the finishing commit is lost: the upload looks failed and
    # is undone, but the file is ready, and its slices must stay.
    store = files.store
    assert isinstance(store, PostgresAttachmentStore)
    data = text(2 * CHUNK_SIZE)
    attachment_id = await announce(store, len(data))
    scope_key = store.scope_key(ALICE)
    await store.save_upload(attachment_id, "notes.txt", "text/plain", stream([data]), scope_key)
    await store._abandon(scope_key, attachment_id, attempt=1)  # pyright: ignore[reportPrivateUsage]
    assert await read(files, attachment_id, ALICE) == data
