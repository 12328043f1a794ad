"""What only the PostgreSQL attachment store promises: any process serves any upload, races end cleanly."""

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
from chatkit.store import NotFoundError
from chatkit.stores import PostgresStore, StoreError, StoreUnavailableError
from chatkit.stores._pg_attachments import PostgresAttachmentStore
from chatkit.stores._postgres import SCHEMA_VERSION as STORE_SCHEMA_VERSION
from chatkit.types import AttachmentCreateParams
from tests.stores.backends import drop_postgres_schema

from .backends import CHUNK_SIZE, postgres_attachment_store, stream
from .test_contract import pieces, text

ALICE = {"user_id": "alice"}
BOB = {"user_id": "bob"}

# A process that dies (SIGKILL) in the middle of an upload, after its first slices are written.
DIE_MID_UPLOAD_CHILD = """
import asyncio, sys
from chatkit.stores._pg_attachments import PostgresAttachmentStore
from chatkit.stores._postgres import SCHEMA_VERSION as STORE_SCHEMA_VERSION
from chatkit.types import AttachmentCreateParams

async def body():
    for _ in range(3):
        yield b"x" * 4096
    print("written", flush=True)
    await asyncio.sleep(60)

async def main():
    store = PostgresAttachmentStore(
        sys.argv[1], schema=sys.argv[2], base_url="https://chat.example/chatkit", chunk_size=4096
    )
    async with store:
        params = AttachmentCreateParams(name="notes.txt", size=12288, mime_type="text/plain")
        attachment = await store.create_attachment(params, {"user_id": "alice"})
        print(attachment.id, flush=True)
        await store.save_stream(attachment.id, "notes.txt", "text/plain", body(), {"user_id": "alice"}, announced=True)

asyncio.run(main())
"""


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[list[PostgresAttachmentStore[Any]]]:
    """Two open stores on one schema, each with its own pool, as two processes would have."""
    first, second = postgres_attachment_store(tmp_path), postgres_attachment_store(tmp_path)
    try:
        async with first, second:
            yield [first, second]
    finally:
        await drop_postgres_schema(first.schema)


async def announce(store: PostgresAttachmentStore[Any], size: int, context: Any = ALICE) -> str:
    params = AttachmentCreateParams(name="notes.txt", size=size, mime_type="text/plain")
    return (await store.create_attachment(params, context)).id


async def read(store: PostgresAttachmentStore[Any], attachment_id: str, context: Any = ALICE) -> bytes | None:
    opened = await store.open_stream(attachment_id, context)
    return None if opened is None else b"".join([data async for data in opened])


async def rows(store: PostgresAttachmentStore[Any], table: str) -> int:
    async with await psycopg.AsyncConnection.connect(store._dsn or "") as conn:  # pyright: ignore[reportPrivateUsage]
        cursor = await conn.execute(f'SELECT count(*) FROM "{store.schema}".{table}'.encode())
        found = await cursor.fetchone()
        assert found is not None
        return int(found[0])


class Paused:
    """An upload body that stops after `before` pieces until released."""

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


async def test_an_upload_to_one_process_is_served_by_another(stores: list[PostgresAttachmentStore[Any]]) -> None:
    first, second = stores
    data = text(50_000)
    attachment_id = await announce(first, len(data))
    await first.save_stream(attachment_id, "notes.txt", "text/plain", stream(pieces(data, 7000)), ALICE, announced=True)
    assert await read(second, attachment_id) == data
    # The slices are what the store promises: fixed size, the last one shorter.
    assert await rows(first, "attachment_chunks") == -(-len(data) // CHUNK_SIZE)

    await second.delete_attachment(attachment_id, ALICE)
    assert await read(first, attachment_id) is None
    assert await rows(first, "attachment_chunks") == 0


async def test_files_are_scoped_to_their_owner_unless_a_token_was_shown(
    stores: list[PostgresAttachmentStore[Any]],
) -> None:
    first, second = stores
    attachment_id = await announce(first, 10)
    await first.save_stream(attachment_id, "notes.txt", "text/plain", stream([b"secret"]), ALICE, announced=True)
    assert await read(second, attachment_id, BOB) is None
    with pytest.raises(NotFoundError):
        await second.save_stream(attachment_id, "x.txt", "text/plain", stream([b"mine"]), BOB, announced=True)
    await second.delete_attachment(attachment_id, BOB)
    assert await read(second, attachment_id, ALICE) == b"secret"
    # The routes pass no context once a signed file token proved access.
    assert await read(second, attachment_id, None) == b"secret"


async def test_an_upload_token_is_spent_once_even_by_racing_processes(
    stores: list[PostgresAttachmentStore[Any]],
) -> None:
    first, second = stores
    data = text(20_000)
    attachment_id = await announce(first, len(data))
    bodies = [Paused(data, before=8), Paused(data[::-1], before=8)]
    uploads = [
        asyncio.create_task(store.save_stream(attachment_id, "notes.txt", "text/plain", body, ALICE, announced=True))
        for store, body in zip(stores, bodies, strict=True)
    ]
    try:
        # Both bodies would pause mid-way; only an upload that won the claim gets there.
        for _ in range(100):
            if any(task.done() for task in uploads) and any(body.reached.is_set() for body in bodies):
                break
            await asyncio.sleep(0.02)
        refused = [task for task in uploads if task.done()]
        assert [body.reached.is_set() for body in bodies].count(True) == 1
        assert len(refused) == 1
        with pytest.raises(AttachmentRejectedError) as conflict:
            refused[0].result()
        assert conflict.value.status_code == 409
    finally:
        for body in bodies:
            body.release.set()
        outcomes = await asyncio.gather(*uploads, return_exceptions=True)
    winner = 0 if bodies[0].reached.is_set() else 1
    assert not isinstance(outcomes[winner], BaseException)
    assert await read(second, attachment_id) == (data if winner == 0 else data[::-1])
    with pytest.raises(AttachmentRejectedError, match="uploaded already"):
        await first.save_stream(attachment_id, "notes.txt", "text/plain", stream([data]), ALICE, announced=True)


async def test_an_upload_in_flight_loses_to_a_delete(stores: list[PostgresAttachmentStore[Any]]) -> None:
    first, second = stores
    data = text(30_000)
    attachment_id = await announce(first, len(data))
    body = Paused(data, before=10)
    upload = asyncio.create_task(
        first.save_stream(attachment_id, "notes.txt", "text/plain", body, ALICE, announced=True)
    )
    await body.reached.wait()
    assert await rows(first, "attachment_chunks") >= 2
    await second.delete_attachment(attachment_id, ALICE)
    body.release.set()
    with pytest.raises(NotFoundError):
        await upload
    assert await read(second, attachment_id) is None
    assert await rows(first, "attachment_chunks") == 0
    assert await rows(first, "attachment_files") == 0
    # And it stays deleted: its token cannot bring it back.
    with pytest.raises(NotFoundError):
        await first.save_stream(attachment_id, "notes.txt", "text/plain", stream([data]), ALICE, announced=True)


async def test_a_delete_just_before_the_upload_finishes_wins_too(stores: list[PostgresAttachmentStore[Any]]) -> None:
    first, second = stores
    data = text(3 * CHUNK_SIZE)
    attachment_id = await announce(first, len(data))
    # Paused after the last piece: every slice is written, only the finishing update is left.
    body = Paused(data, before=len(pieces(data, 1024)))

    async def tail() -> AsyncIterator[bytes]:
        async for piece in body:
            yield piece
        body.reached.set()
        await body.release.wait()

    upload = asyncio.create_task(
        first.save_stream(attachment_id, "notes.txt", "text/plain", tail(), ALICE, announced=True)
    )
    await body.reached.wait()
    await second.delete_attachment(attachment_id, ALICE)
    body.release.set()
    with pytest.raises(NotFoundError):
        await upload
    assert await rows(first, "attachment_files") == 0


async def test_a_failed_upload_leaves_nothing_and_may_be_tried_again(
    stores: list[PostgresAttachmentStore[Any]],
) -> None:
    first, second = stores
    data = text(20_000)
    attachment_id = await announce(first, len(data))
    with pytest.raises(AttachmentRejectedError) as too_big:
        await first.save_stream(
            attachment_id,
            "notes.txt",
            "text/plain",
            stream(pieces(text(first.max_bytes + 1), 8192)),
            ALICE,
            announced=True,
        )
    assert too_big.value.status_code == 413
    assert await rows(first, "attachment_chunks") == 0
    await second.save_stream(attachment_id, "notes.txt", "text/plain", stream([data]), ALICE, announced=True)
    assert await read(first, attachment_id) == data

    direct = first.generate_attachment_id("text/plain", ALICE)
    with pytest.raises(AttachmentRejectedError):
        await first.save_stream(direct, "a.png", "image/png", stream([data]), ALICE, announced=False)
    assert await rows(first, "attachment_files") == 1


async def test_a_process_killed_mid_upload_is_cleaned_up_by_the_next_one(tmp_path: Path) -> None:
    store = postgres_attachment_store(tmp_path, stale_upload_after=0.5)
    dsn, schema = store._dsn or "", store.schema  # pyright: ignore[reportPrivateUsage]
    try:
        await store.open()
        await store.aclose()
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", DIE_MID_UPLOAD_CHILD, dsn, schema, stdout=asyncio.subprocess.PIPE
        )
        assert child.stdout is not None
        attachment_id = (await asyncio.wait_for(child.stdout.readline(), 30)).decode().strip()
        assert await asyncio.wait_for(child.stdout.readline(), 30) == b"written\n"
        child.kill()
        await child.wait()
        assert await rows(store, "attachment_chunks") >= 2

        # Still fresh: nobody may take the upload over yet.
        with pytest.raises(AttachmentRejectedError, match="being uploaded"):
            await store.save_stream(attachment_id, "notes.txt", "text/plain", stream([b"hi"]), ALICE, announced=True)
        await asyncio.sleep(0.6)
        await store.aclose()
        await store.open()
        assert await rows(store, "attachment_chunks") == 0
        await store.save_stream(attachment_id, "notes.txt", "text/plain", stream([b"again"]), ALICE, announced=True)
        assert await read(store, attachment_id) == b"again"
    finally:
        await store.aclose()
        await drop_postgres_schema(schema)


async def test_uploads_and_downloads_hold_one_slice_not_the_file(tmp_path: Path) -> None:
    size = 4 * 1024 * 1024
    store = postgres_attachment_store(tmp_path, max_bytes=size, chunk_size=256 * 1024)
    piece = b"0123456789abcdef" * 4096

    async def body() -> AsyncIterator[bytes]:
        for _ in range(size // len(piece)):
            yield piece

    try:
        async with store:
            attachment_id = store.generate_attachment_id("text/plain", ALICE)
            tracemalloc.start()
            try:
                await store.save_stream(attachment_id, "big.txt", "text/plain", body(), ALICE, announced=False)
                _, upload_peak = tracemalloc.get_traced_memory()
                tracemalloc.reset_peak()
                opened = await store.open_stream(attachment_id, ALICE)
                assert opened is not None and opened.size == size
                total = 0
                async for data in opened:
                    assert data == piece * (len(data) // len(piece))
                    total += len(data)
                _, download_peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    finally:
        await drop_postgres_schema(store.schema)
    assert total == size
    # A few slices at most (the one being filled, a copy for the driver), never the 4 MiB file.
    assert upload_peak < 1.5 * 1024 * 1024, upload_peak
    assert download_peak < 1.5 * 1024 * 1024, download_peak


async def test_it_shares_a_schema_with_the_postgres_store(tmp_path: Path) -> None:
    files = postgres_attachment_store(tmp_path)
    dsn, schema = files._dsn or "", files.schema  # pyright: ignore[reportPrivateUsage]
    others = [postgres_attachment_store(tmp_path) for _ in range(3)]
    try:
        # Several processes starting at once migrate once, whichever comes first.
        await asyncio.gather(*(other.open() for other in others), files.open())
        async with PostgresStore(dsn, schema=schema) as store:
            assert await store.schema_version() == STORE_SCHEMA_VERSION
            assert await files.schema_version() == 1
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            await conn.execute(f'UPDATE "{schema}".attachment_schema_version SET version = 9'.encode())
        with pytest.raises(StoreError, match="version 9"):
            await postgres_attachment_store(tmp_path).open()
    finally:
        for store in [files, *others]:
            await store.aclose()
        await drop_postgres_schema(schema)


async def test_an_unreachable_server_is_store_unavailable() -> None:
    store: PostgresAttachmentStore[Any] = PostgresAttachmentStore(
        "postgresql://postgres@127.0.0.1:9/none", timeout=0.5, base_url="https://x"
    )
    with pytest.raises(StoreUnavailableError):
        await store.open()
