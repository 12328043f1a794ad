"""What only the SQLite store promises: WAL files, an idle event loop, clear failures."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import pytest

from chatkit.stores import SQLiteStore, StoreError, StoreUnavailableError

from .samples import thread, user_message

ALICE = {"user_id": "alice"}
T = TypeVar("T")


async def with_loop_lag(work: Awaitable[T]) -> tuple[T, float, float]:
    """Run `work` while a ticker measures the loop; returns its result, duration and worst lag."""
    worst = 0.0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.001)
            worst = max(worst, time.perf_counter() - before - 0.001)

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    started = time.perf_counter()
    result = await work
    duration = time.perf_counter() - started
    done.set()
    await ticking
    return result, duration, worst


async def test_waiting_on_sqlite_does_not_block_the_event_loop(tmp_path: Path) -> None:
    path = tmp_path / "lag.db"
    async with SQLiteStore(path) as store:
        await store.save_thread(thread("thr_1"), ALICE)
        # Another process (here: connection) holds the write lock for a while; the store's write
        # waits for it in SQLite's busy handler, which must not be on the event loop.
        blocker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        blocker.execute("BEGIN IMMEDIATE")
        release = threading.Timer(1.0, blocker.execute, ("COMMIT",))
        release.start()
        try:
            write = store.add_thread_item("thr_1", user_message("thr_1", "msg_1"), ALICE)
            _, duration, worst = await with_loop_lag(write)
        finally:
            release.join()
            blocker.close()
        # On the loop, the wait would stall it for the whole second; a busy machine adds tens of ms.
        assert duration > 0.8, f"the write took {duration * 1000:.0f} ms: it did not wait for the lock"
        assert worst < 0.4, f"the event loop stalled {worst * 1000:.1f} ms during {duration * 1000:.0f} ms"
        assert len((await store.load_thread_items("thr_1", None, 10, "asc", ALICE)).data) == 1


async def test_the_file_is_in_wal_mode_with_a_recorded_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "chatkit.db"
    async with SQLiteStore(path) as store:
        assert await store.schema_version() == 2
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert db.execute("SELECT version FROM chatkit_schema_version").fetchall() == [(2,)]
    db.close()


async def test_an_in_memory_database_works_and_ends_with_the_store() -> None:
    store = SQLiteStore()
    async with store:
        await store.save_thread(thread("thr_1"), ALICE)
        await store.add_thread_item("thr_1", user_message("thr_1", "msg_1"), ALICE)
        assert len((await store.load_thread_items("thr_1", None, 10, "asc", ALICE)).data) == 1
    async with store:
        assert (await store.load_threads(10, None, "asc", ALICE)).data == []


async def test_an_unreachable_file_is_a_clear_error(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "no" / "such" / "dir" / "chatkit.db")
    with pytest.raises(StoreUnavailableError, match="no/such/dir"):
        await store.open()
    with pytest.raises(StoreUnavailableError):
        await store.load_threads(10, None, "asc", ALICE)


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chatkit.db"
    async with SQLiteStore(path):
        pass
    with sqlite3.connect(path) as db:
        db.execute("UPDATE chatkit_schema_version SET version = 99")
    db.close()
    with pytest.raises(StoreError, match="version 99"):
        await SQLiteStore(path).open()


async def test_a_locked_database_fails_after_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "chatkit.db"
    async with SQLiteStore(path, busy_timeout=0.2) as store:
        await store.save_thread(thread("thr_1"), ALICE)
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        try:
            started = time.perf_counter()
            with pytest.raises(StoreUnavailableError, match="locked"):
                await store.add_thread_item("thr_1", user_message("thr_1", "msg_1"), ALICE)
            assert 0.15 < time.perf_counter() - started < 5
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        await store.add_thread_item("thr_1", user_message("thr_1", "msg_1"), ALICE)
