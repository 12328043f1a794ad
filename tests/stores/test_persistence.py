"""What the database backends keep across store objects and processes."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

import pytest

from chatkit.stores import _postgres, _sqlite

from .backends import PERSISTENT_BACKENDS, make_store, store_location
from .samples import assistant_message, thread, user_message

ALICE = {"user_id": "alice"}

# Opens a store (creating or migrating its schema) at a given instant, then reports the version.
MIGRATE_CHILD = """
import asyncio, json, sys, time
from chatkit.stores import store_from_url

async def main():
    url, kwargs, start = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3])
    time.sleep(max(0.0, start - time.time()))
    store = store_from_url(url, **kwargs)
    async with store:
        await store.save_thread(
            __import__("chatkit.types", fromlist=["ThreadMetadata"]).ThreadMetadata(
                id="thr_" + sys.argv[4], created_at="2026-01-01T00:00:00Z"
            ),
            {"user_id": "alice"},
        )
        print(await store.schema_version())

asyncio.run(main())
"""


@pytest.mark.parametrize("backend", PERSISTENT_BACKENDS)
async def test_a_new_store_on_the_same_database_sees_the_data(backend: str, tmp_path: Path) -> None:
    async with make_store(backend, tmp_path) as first:
        await first.save_thread(thread("thr_1", title="kept"), ALICE)
        await first.add_thread_item("thr_1", user_message("thr_1", "msg_1"), ALICE)
        await first.add_thread_item("thr_1", assistant_message("thr_1", "msg_2"), ALICE)
        async with make_store(backend, tmp_path) as second:
            assert (await second.load_thread("thr_1", ALICE)).title == "kept"
            await second.add_thread_item("thr_1", user_message("thr_1", "msg_3"), ALICE)
        await first.aclose()
        await first.open()
        page = await first.load_thread_items("thr_1", None, 10, "asc", ALICE)
        assert [item.id for item in page.data] == ["msg_1", "msg_2", "msg_3"]
        assert page.data[1] == assistant_message("thr_1", "msg_2")


@pytest.mark.parametrize("backend", PERSISTENT_BACKENDS)
async def test_two_processes_migrate_one_database_at_once(backend: str, tmp_path: Path) -> None:
    url, kwargs = store_location(backend, tmp_path)
    async with make_store(backend, tmp_path) as store:
        # The schema is dropped here so the children find an empty database; `store` cleans up after them.
        await store.aclose()
        (tmp_path / "chatkit.db").unlink(missing_ok=True)
        if "schema" in kwargs:
            from .backends import drop_postgres_schema

            await drop_postgres_schema(kwargs["schema"])
        start = time.time() + 1.5
        children = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                MIGRATE_CHILD,
                url,
                json.dumps(kwargs),
                str(start),
                str(number),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for number in range(3)
        ]
        results = [await asyncio.wait_for(child.communicate(), 60) for child in children]
        for child, (out, err) in zip(children, results, strict=True):
            assert child.returncode == 0, err.decode()
            schema_version = _postgres.SCHEMA_VERSION if backend == "postgres" else _sqlite.SCHEMA_VERSION
            assert out.decode().strip() == str(schema_version)
        await store.open()
        page = await store.load_threads(10, None, "asc", ALICE)
        assert sorted(row.id for row in page.data) == ["thr_0", "thr_1", "thr_2"]
