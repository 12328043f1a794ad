"""Database faults: PostgreSQL drops every connection of a loaded server, three times over.

In-flight turns must end, never hang: completed (the store reconnects and retries), with an
`error` event, or refused with a 503 before the stream starts; never a 5xx other than 503, nor a
stream cut off without a word. Every item confirmed is stored, and new turns succeed afterwards
without restarting the server.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import httpx

from tests.reliability.clients import Turn, all_items, message_request, stream_turn
from tests.reliability.processes import store_options, terminate_backends
from tests.reliability.serving import ServerProcess

CLIENTS = 10
USER = "faults"
LOAD_SECONDS = 6.0
KILL_TIMES = (1.5, 3.0, 4.5)


def acceptable(turn: Turn) -> bool:
    """Completed, ended by an error event, or refused as unavailable before the stream began."""
    if turn.error is not None:
        return False
    if turn.status == 503:
        return '"unavailable"' in turn.body
    return turn.status == 200 and (turn.completed or bool(turn.error_events))


async def test_terminated_connections_end_turns_cleanly_and_heal(tmp_path: Path) -> None:
    tag = f"chatkit-faults-{uuid.uuid4().hex[:8]}"
    async with store_options("postgres", tmp_path, application_name=tag) as options:
        server = ServerProcess(
            *options, "--deltas", "10", "--pause", "0.05", "--pool", "5", log=tmp_path / "server.log"
        )
        try:
            await server.start()
            url = f"{server.url}/chatkit"
            turns: list[Turn] = []
            threads: dict[int, str] = {}
            stop_at = time.monotonic() + LOAD_SECONDS

            async def client_loop(client: httpx.AsyncClient, number: int) -> None:
                index = 0
                while time.monotonic() < stop_at:
                    request = message_request(f"client {number} turn {index}", threads.get(number))
                    turn = await stream_turn(client, url, request, USER)
                    turns.append(turn)
                    if number not in threads and turn.thread_id is not None:
                        threads[number] = turn.thread_id
                    index += 1

            async def terminator() -> list[int]:
                killed: list[int] = []
                started = time.monotonic()
                for at in KILL_TIMES:
                    await asyncio.sleep(max(0.0, started + at - time.monotonic()))
                    killed.append(await terminate_backends(tag))
                return killed

            limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
            async with httpx.AsyncClient(timeout=30, limits=limits) as client:
                loops = [asyncio.create_task(client_loop(client, number)) for number in range(CLIENTS)]
                killed = await terminator()
                await asyncio.wait_for(asyncio.gather(*loops), 60)
                assert all(count > 0 for count in killed), killed
                bad = [(turn.status, turn.body, turn.error, turn.events[-1:]) for turn in turns if not acceptable(turn)]
                assert not bad, bad

                # Healed: a new turn on every thread, on the same server process.
                after = await asyncio.gather(
                    *(
                        stream_turn(client, url, message_request("healed?", thread_id), USER)
                        for thread_id in threads.values()
                    )
                )
                assert len(after) == CLIENTS
                assert all(turn.completed for turn in after), [(turn.status, turn.body) for turn in after]
                for thread_id in threads.values():
                    stored = {item["id"] for item in await all_items(client, url, thread_id, USER)}
                    confirmed = {
                        item["id"]
                        for turn in [*turns, *after]
                        if turn.thread_id == thread_id
                        for item in turn.done_items
                    }
                    assert confirmed <= stored
            print(
                f"turns: {len(turns)}, sessions terminated: {killed}, ended by error events: "
                f"{sum(bool(turn.error_events) for turn in turns)}, 503s: {sum(turn.status == 503 for turn in turns)}"
            )
        finally:
            await server.stop()
