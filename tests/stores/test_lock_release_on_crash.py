"""A process killed while its turns hold their locks frees them at once, directly and through PgBouncer.

Every turn lock of a process lives on its one lock session, as a session-level advisory lock taken
inside a transaction that session holds open. The session's end releases them: PostgreSQL ends
it when the process dies, and PgBouncer closes a server connection left in a transaction.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from chatkit.stores import PostgresStore
from tests.stores.backends import PGBOUNCER_BACKEND, drop_postgres_schema, postgres_schema, store_location

pytestmark = pytest.mark.process

REPO = Path(__file__).resolve().parents[2]
ALICE = {"user_id": "alice"}
HOLDER = """
import asyncio, sys
from chatkit.stores import PostgresStore
from tests.stores.samples import thread

async def main() -> None:
    async with PostgresStore(sys.argv[1], schema=sys.argv[2]) as store:
        for number in range(3):
            await store.save_thread(thread(f"thr_{number}"), {"user_id": "alice"})
        async with store.turn_lock("thr_0", {"user_id": "alice"}), store.turn_lock("thr_1", {"user_id": "alice"}):
            print("held", flush=True)
            await asyncio.sleep(3600)

asyncio.run(main())
"""


@pytest.mark.parametrize("backend", ["postgres", PGBOUNCER_BACKEND])
async def test_a_killed_process_frees_its_turn_locks_at_once(backend: str, tmp_path: Path) -> None:
    dsn, _ = store_location(backend, tmp_path)
    schema = postgres_schema(tmp_path)
    environment = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, dsn, schema, stdout=asyncio.subprocess.PIPE, env=environment
    )
    try:
        assert holder.stdout is not None
        assert (await asyncio.wait_for(holder.stdout.readline(), 30)).strip() == b"held"
        async with PostgresStore(dsn, schema=schema) as other:

            async def take(thread_id: str) -> float:
                async with other.turn_lock(thread_id, ALICE):
                    return time.monotonic()

            waiting = [asyncio.create_task(take(thread_id)) for thread_id in ("thr_0", "thr_1")]
            async with other.turn_lock("thr_2", ALICE):
                pass  # a thread the holder never locked is free all along
            await asyncio.sleep(0.3)
            assert not any(task.done() for task in waiting)
            killed = time.monotonic()
            holder.send_signal(signal.SIGKILL)
            await holder.wait()
            taken = await asyncio.wait_for(asyncio.gather(*waiting), 10)
        assert max(taken) - killed < 2.0
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
        await drop_postgres_schema(schema)
