"""Interrupting and rejoining a running turn across two server processes on one PostgreSQL database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import psycopg
import pytest

from chatkit.coordination import APPLICATION_NAME
from tests.asgi.rejoin import numbered_events, rejoin, start_and_leave
from tests.asgi.test_postgres_processes import create_thread, start_slow_turn, thread_items
from tests.asgi.test_turns import kinds
from tests.http import parse_events, postgres_app_processes, user_message
from tests.stores.backends import require_postgres

pytestmark = [pytest.mark.service, pytest.mark.process]

ALICE = {"x-user": "alice"}
SLOW_WORDS = "".join(f"slow:{index} " for index in range(10))


async def test_a_message_sent_to_another_process_interrupts_the_running_turn(tmp_path: Path) -> None:
    async with (
        postgres_app_processes(tmp_path, "tests.asgi.pg_coord_app", "interrupt", "cancel") as (first, second),
        httpx.AsyncClient(timeout=30) as client,
    ):
        thread_id = await create_thread(client, first)
        running = await start_slow_turn(client, first, thread_id)
        await asyncio.sleep(0.3)
        newer = await client.post(f"{second}/chatkit", json=user_message("next", thread_id), headers=ALICE)
        assert newer.status_code == 200
        interrupted = parse_events(await running)
        texts = kinds(await thread_items(client, second, thread_id))
    words = [e["update"]["delta"] for e in interrupted if e.get("update", {}).get("type", "").endswith("delta")]
    assert 1 <= len(words) < 10, words
    # The partial answer is kept as a stop keeps it (the hidden note is not listed), then the new turn runs.
    assert texts[2:] == [
        "user_message:slow",
        f"assistant_message:{''.join(words)}",
        "user_message:next",
        f"assistant_message:{''.join(f'next:{index} ' for index in range(10))}",
    ]


async def test_a_client_rejoins_on_another_process_and_gets_the_rest_in_order(tmp_path: Path) -> None:
    async with (
        postgres_app_processes(tmp_path, "tests.asgi.pg_coord_app", "wait", "finish") as (first, second),
        httpx.AsyncClient(timeout=30) as client,
    ):
        thread_id = await create_thread(client, first)
        seen, _ = await start_and_leave(client, first, "slow", thread_id, frames=4)
        assert (await rejoin(client, second, thread_id, user="bob")).status_code == 404
        whole = asyncio.create_task(rejoin(client, second, thread_id, after=0))
        rest = await rejoin(client, second, thread_id, after=len(seen))
        assert rest.status_code == 200
        numbered = numbered_events(rest.content)
        assert (await rejoin(client, second, thread_id)).status_code == 204
        everything = numbered_events((await whole).content)
        texts = kinds(await thread_items(client, second, thread_id))
    assert [index for index, _ in numbered] == list(range(len(seen) + 1, len(seen) + 1 + len(numbered)))
    assert [index for index, _ in everything] == list(range(1, len(everything) + 1))
    events = seen + [event for _, event in numbered]
    assert events == [event for _, event in everything]
    deltas = "".join(e["update"]["delta"] for e in events if e.get("update", {}).get("type", "").endswith("delta"))
    assert deltas == SLOW_WORDS
    assert texts[-1] == f"assistant_message:{SLOW_WORDS}"


async def test_coordination_sessions_terminated_mid_turn_degrade_without_losing_anything(tmp_path: Path) -> None:
    async with (
        postgres_app_processes(tmp_path, "tests.asgi.pg_coord_app", "interrupt", "finish") as (first, second),
        httpx.AsyncClient(timeout=30) as client,
    ):
        thread_id = await create_thread(client, first)
        running = await start_slow_turn(client, first, thread_id)
        following = asyncio.create_task(rejoin(client, second, thread_id, after=0))
        await asyncio.sleep(0.2)
        async with await psycopg.AsyncConnection.connect(require_postgres(), autocommit=True) as conn:
            cursor = await conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
                (APPLICATION_NAME,),
            )
            row = await cursor.fetchone()
            assert row is not None and row[0] >= 2
        # The turn itself is untouched, the follower is not left hanging.
        posted = parse_events(await asyncio.wait_for(running, 20))
        followed = await asyncio.wait_for(following, 20)
        assert followed.status_code == 200
        assert posted[-1]["type"] == "thread.item.done"
        texts = kinds(await thread_items(client, second, thread_id))
        assert texts[-1] == f"assistant_message:{SLOW_WORDS}"
        # Afterwards interrupts reach across processes again.
        again = await start_slow_turn(client, first, thread_id)
        await asyncio.sleep(0.3)
        newer = await client.post(f"{second}/chatkit", json=user_message("next", thread_id), headers=ALICE)
        assert newer.status_code == 200
        cut = parse_events(await again)
    followed_events = numbered_events(followed.content)
    assert followed_events, "the follower got nothing"
    assert [event for index, event in followed_events if index is not None] == posted[: len(followed_events)] or (
        followed_events[-1][1]["type"] == "error"
    )
    assert sum(e.get("update", {}).get("type", "").endswith("delta") for e in cut) < 10


async def test_under_grace_a_client_rejoining_through_another_process_gets_the_whole_answer(tmp_path: Path) -> None:
    async with (
        postgres_app_processes(tmp_path, "tests.asgi.pg_coord_app", "wait", "grace") as (first, second),
        httpx.AsyncClient(timeout=30) as client,
    ):
        thread_id = await create_thread(client, first)
        seen, _ = await start_and_leave(client, first, "slow", thread_id, frames=4)
        # Longer than the answer takes: the turn waits for its client rather than running on.
        await asyncio.sleep(1.5)
        rest = numbered_events((await rejoin(client, second, thread_id, after=len(seen))).content)
        texts = kinds(await thread_items(client, second, thread_id))
    events = seen + [event for _, event in rest]
    deltas = "".join(e["update"]["delta"] for e in events if e.get("update", {}).get("type", "").endswith("delta"))
    assert deltas == SLOW_WORDS
    assert texts[-1] == f"assistant_message:{SLOW_WORDS}"


async def test_a_stop_sent_to_another_process_stops_the_turn_at_once(tmp_path: Path) -> None:
    async with (
        postgres_app_processes(tmp_path, "tests.asgi.pg_coord_app", "wait", "grace") as (first, second),
        httpx.AsyncClient(timeout=30) as client,
    ):
        thread_id = await create_thread(client, first)
        running = await start_slow_turn(client, first, thread_id)
        await asyncio.sleep(0.3)
        stop = await client.post(f"{second}/chatkit/threads/{thread_id}/stop", headers=ALICE)
        stopped = parse_events(await running)
        texts = kinds(await thread_items(client, second, thread_id))
    assert stop.json() == {"stopped": True}
    words = "".join(e["update"]["delta"] for e in stopped if e.get("update", {}).get("type", "").endswith("delta"))
    assert 0 < len(words) < len(SLOW_WORDS)
    assert texts[-1] == f"assistant_message:{words}"
