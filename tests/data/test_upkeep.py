"""Retention, erasure and export on every store and every attachment store, checked in their own storage."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from chatkit.data import erase_tenant, export_tenant, remove_idle
from chatkit.stores import ScopedStore
from tests.attachments.backends import Files, make_files
from tests.stores.backends import make_store

from .tenants import add_thread, files_left, fill, rows_left

# (store, attachment store): every store once, every attachment store once.
PAIRS = [("memory", "local"), ("sqlite", "local"), ("sqlite", "s3"), ("postgres", "postgres")]


@asynccontextmanager
async def linked(store_backend: str, files_backend: str, tmp_path: Path) -> AsyncIterator[tuple[ScopedStore, Files]]:
    """A store linked to an attachment store, as `ChatKitServer(store, attachment_store)` links them."""
    async with make_store(store_backend, tmp_path) as store, make_files(files_backend, tmp_path) as files:
        store.link_attachment_store(files.store)
        yield store, files


@pytest.mark.parametrize(("store_backend", "files_backend"), PAIRS)
async def test_erasure_leaves_no_row_or_file_of_the_user_and_everything_of_another(
    store_backend: str, files_backend: str, tmp_path: Path
) -> None:
    async with linked(store_backend, files_backend, tmp_path) as (store, files):
        alice = await fill(store, files, "alice")
        bob = await fill(store, files, "bob")
        assert await rows_left(store, "alice") and await files_left(files, "alice")

        report = await erase_tenant(store, alice.context, attachment_store=files.store, batch_size=1)

        assert (report.threads, report.items) == (2, alice.items)
        assert report.attachments == 3  # two in a thread, one uploaded and never sent
        assert report.files == 3
        assert report.stray_files == 1  # announced, never uploaded: no record names it
        assert report.batches >= 3
        assert await rows_left(store, "alice") == 0
        assert await files_left(files, "alice") == 0
        # Bob keeps everything, rows and bytes.
        assert await store.scopes() == ["bob"]
        assert [t.id for t in (await store.load_threads(10, None, "asc", bob.context)).data] == bob.threads
        for attachment_id, data in bob.files.items():
            record = await store.load_attachment(attachment_id, bob.context)
            scope_key = files.streams.scope_key(bob.context)
            opened = await files.streams.stream_file(record.id, scope_key)
            assert opened is not None and b"".join([chunk async for chunk in opened]) == data
        # Erasing again finds nothing.
        again = await erase_tenant(store, alice.context, attachment_store=files.store)
        assert (again.threads, again.attachments, again.stray_files) == (0, 0, 0)


@pytest.mark.parametrize(("store_backend", "files_backend"), PAIRS)
async def test_retention_removes_what_was_idle_for_the_period_and_keeps_what_was_written_since(
    store_backend: str, files_backend: str, tmp_path: Path
) -> None:
    async with linked(store_backend, files_backend, tmp_path) as (store, files):
        old = await fill(store, files, "alice")
        await asyncio.sleep(1.5)
        # A new item in an old thread makes it recent; so does a rename. A new thread is recent.
        answered, renamed = old.threads
        page = await store.load_thread_items(answered, None, 1, "asc", old.context)
        await store.save_item(answered, page.data[0], old.context)
        thread = await store.load_thread(renamed, old.context)
        thread.title = "renamed"
        await store.save_thread(thread, old.context)
        await asyncio.sleep(0.1)
        other = await fill(store, files, "bob")
        await asyncio.sleep(0.1)
        bob_old = other.threads[0]
        # Everything of Bob's is recent: nothing of his goes.
        report = await remove_idle(store, 1.0 / 86400, attachment_store=files.store, batch_size=1)
        assert (report.threads, report.attachments) == (0, 1)  # Alice's draft, never sent
        assert report.files == 1
        assert await store.scopes() == ["alice", "bob"]
        assert len((await store.load_threads(10, None, "asc", old.context)).data) == 2
        assert (await store.load_thread(bob_old, other.context)).id == bob_old

        await asyncio.sleep(1.2)
        await add_thread(store, other, "bob's newest", [])
        report = await remove_idle(store, 1.0 / 86400, attachment_store=files.store, batch_size=1)
        assert report.threads == 4 and report.items == 8
        assert report.attachments == 5  # two in each first thread, and Bob's draft
        assert report.batches >= 4
        assert await store.scopes() == ["bob"]
        assert [t.title for t in (await store.load_threads(10, None, "asc", other.context)).data] == ["bob's newest"]
        for attachment_id in old.files:
            scope_key = files.streams.scope_key(old.context)
            assert await files.streams.stream_file(attachment_id, scope_key) is None


@pytest.mark.parametrize(("store_backend", "files_backend"), PAIRS)
async def test_an_export_holds_the_users_threads_items_and_files_in_the_wire_format(
    store_backend: str, files_backend: str, tmp_path: Path
) -> None:
    async with linked(store_backend, files_backend, tmp_path) as (store, files):
        alice = await fill(store, files, "alice")
        await fill(store, files, "bob")
        out = tmp_path / "alice-export"

        report = await export_tenant(store, alice.context, out, attachment_store=files.store)

        assert (report.threads, report.items, report.attachments, report.files) == (2, 4, 3, 3)
        assert report.bytes == sum(len(data) for data in alice.files.values())
        threads = [json.loads(line) for line in (out / "threads.jsonl").read_text().splitlines()]
        assert [thread["id"] for thread in threads] == alice.threads
        items = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
        expected = [
            json.loads(item.model_dump_json())
            for thread_id in alice.threads
            for item in (await store.load_thread_items(thread_id, None, 100, "asc", alice.context)).data
        ]
        assert [item["id"] for item in items] == [item["id"] for item in expected]
        assert {item["type"] for item in items} == {"user_message", "assistant_message"}
        entries = [json.loads(line) for line in (out / "attachments.jsonl").read_text().splitlines()]
        assert {entry["attachment"]["id"] for entry in entries} == set(alice.files)
        for entry in entries:
            data = (out / entry["file"]).read_bytes()
            assert data == alice.files[entry["attachment"]["id"]]
            assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["size"] == len(data)
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["format"] == "chatkit-export" and manifest["threads"] == 2
        assert "bob" not in (out / "items.jsonl").read_text() + (out / "threads.jsonl").read_text()
        with pytest.raises(FileExistsError):
            await export_tenant(store, alice.context, out, attachment_store=files.store)


async def test_rows_written_before_the_upgrade_count_as_written_at_the_upgrade(tmp_path: Path) -> None:
    import sqlite3

    from chatkit.stores import SQLiteStore
    from chatkit.stores._sqlite import MIGRATIONS

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        for statement in MIGRATIONS[0]:
            db.execute(statement)
        db.execute("CREATE TABLE chatkit_schema_version (version INTEGER NOT NULL)")
        db.execute("INSERT INTO chatkit_schema_version VALUES (1)")
        thread = json.dumps({"id": "thr_old", "created_at": "2020-01-01T00:00:00Z", "status": {"type": "active"}})
        db.execute("INSERT INTO chatkit_threads (scope, id, data) VALUES ('alice', 'thr_old', ?)", (thread,))
    db.close()
    async with SQLiteStore(path) as store:
        assert await store.schema_version() == 2
        assert (await remove_idle(store, 1.0 / 86400)).threads == 0  # stamped now, so not idle yet
        await asyncio.sleep(1.1)
        assert (await remove_idle(store, 1.0 / 86400)).threads == 1
