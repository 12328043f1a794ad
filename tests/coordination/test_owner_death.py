"""A follower learns within moments that the process running its turn died, not a heartbeat timeout later."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from chatkit.coordination import PostgresCoordination, TurnKey
from chatkit.coordination._base import LOST_FRAME
from chatkit.stores import PostgresStore
from tests.stores.backends import drop_postgres_schema, postgres_schema, require_postgres

pytestmark = [pytest.mark.process, pytest.mark.service]

REPO = Path(__file__).resolve().parents[2]
OWNER = """
import asyncio, sys
from chatkit.coordination import PostgresCoordination, TurnKey
from chatkit.stores import PostgresStore

async def main() -> None:
    async with PostgresStore(sys.argv[1], schema=sys.argv[2]) as store:
        coordination = PostgresCoordination.for_store(store, stale_after=60)
        async with store.turn_lock("thr_1", {"user_id": "alice"}):
            turn = await coordination.begin(TurnKey.of("alice", "thr_1"), lambda: None)
            for number in range(3):
                turn.publish(b"data: {\\"n\\": %d}\\n\\n" % number)
            print("running", flush=True)
            await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_a_follower_learns_of_the_owners_death_within_moments(tmp_path: Path) -> None:
    dsn = require_postgres()
    schema = postgres_schema(tmp_path)
    environment = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{REPO}"}
    owner = await asyncio.create_subprocess_exec(
        sys.executable, "-c", OWNER, dsn, schema, stdout=asyncio.subprocess.PIPE, env=environment
    )
    try:
        assert owner.stdout is not None
        assert (await asyncio.wait_for(owner.stdout.readline(), 30)).strip() == b"running"
        async with PostgresStore(dsn, schema=schema) as store:
            # The heartbeat would call the turn alive for a minute: only the owner's session can tell.
            follower = PostgresCoordination.for_store(store, stale_after=60)
            try:
                frames = await follower.follow(TurnKey.of("alice", "thr_1"), 0)
                assert frames is not None
                received: list[bytes] = []

                async def read() -> float:
                    async for _, frame in frames:
                        received.append(frame)
                    return time.monotonic()

                reading = asyncio.create_task(read())
                await asyncio.sleep(1.5)
                assert not reading.done() and len(received) == 3
                killed = time.monotonic()
                owner.send_signal(signal.SIGKILL)
                await owner.wait()
                ended = await asyncio.wait_for(reading, 20)
            finally:
                await follower.aclose()
        assert received[-1] == LOST_FRAME
        assert ended - killed < 3.0
    finally:
        if owner.returncode is None:
            owner.kill()
            await owner.wait()
        await drop_postgres_schema(schema)
