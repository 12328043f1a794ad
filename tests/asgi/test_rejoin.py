"""The rejoin route in one process: a client that left a running turn attaches again and gets the rest."""

from __future__ import annotations

import asyncio
from typing import Any

from chatkit.coordination import MemoryCoordination, ReplayLimits
from tests.asgi.rejoin import numbered_events, rejoin, start_and_leave
from tests.asgi.test_turns import kinds
from tests.http import parse_events, user_message

SLOW = {"words": 10, "delay": 0.1}


async def test_a_client_that_left_gets_every_missed_frame_then_the_rest_live(make_harness: Any) -> None:
    async with make_harness(SLOW, disconnect_policy="finish") as h:
        thread_id = await h.new_thread()
        seen, _ = await start_and_leave(h.client, h.url, "slow", thread_id, frames=4)
        await asyncio.sleep(0.25)  # frames the client misses while away
        rest = await rejoin(h.client, h.url, thread_id, after=len(seen))
        assert rest.status_code == 200
        assert rest.headers["content-type"].startswith("text/event-stream")
        numbered = numbered_events(rest.content)
        # Meanwhile the turn ended: nothing runs on the thread any more.
        assert (await rejoin(h.client, h.url, thread_id)).status_code == 204
        items = await h.items(thread_id)
    assert [index for index, _ in numbered] == list(range(len(seen) + 1, len(seen) + 1 + len(numbered)))
    events = seen + [event for _, event in numbered]
    deltas = "".join(e["update"]["delta"] for e in events if e.get("update", {}).get("type", "").endswith("delta"))
    assert deltas == "".join(f"slow:{index} " for index in range(10))
    assert events[-1]["type"] == "thread.item.done"
    assert kinds(items)[-1] == f"assistant_message:{deltas}"


async def test_a_second_tab_follows_the_whole_turn_from_its_first_frame(make_harness: Any) -> None:
    async with make_harness(SLOW) as h:
        thread_id = await h.new_thread()
        request = h.post(user_message("slow", thread_id))
        posting = asyncio.create_task(request)
        await asyncio.sleep(0.3)
        followed = await rejoin(h.client, h.url, thread_id)
        posted = await posting
    assert [event for _, event in numbered_events(followed.content)] == parse_events(posted.content)


async def test_the_first_turn_of_a_new_thread_can_be_rejoined(make_harness: Any) -> None:
    async with make_harness(SLOW, disconnect_policy="finish") as h:
        seen, thread_id = await start_and_leave(h.client, h.url, "slow", None, frames=2)
        whole = numbered_events((await rejoin(h.client, h.url, thread_id, after=0)).content)
    assert whole[0] == (1, seen[0])
    assert seen[0]["type"] == "thread.created"
    assert whole[-1][1]["type"] == "thread.item.done"


async def test_404_for_another_users_or_an_unknown_thread_401_without_auth_400_for_a_bad_after(
    make_harness: Any,
) -> None:
    async with make_harness(SLOW, disconnect_policy="finish") as h:
        thread_id = await h.new_thread()
        await start_and_leave(h.client, h.url, "slow", thread_id, frames=3)
        assert (await rejoin(h.client, h.url, thread_id, user="bob")).status_code == 404
        assert (await rejoin(h.client, h.url, "thr_nope")).status_code == 404
        assert (await h.client.get(f"{h.url}/chatkit/threads/{thread_id}/stream")).status_code == 401
        bad = await h.client.get(
            f"{h.url}/chatkit/threads/{thread_id}/stream", params={"after": "x"}, headers={"x-user": "alice"}
        )
        assert bad.status_code == 400
        # The Last-Event-ID header an EventSource sends on reconnection works as `after`.
        resumed = await h.client.get(
            f"{h.url}/chatkit/threads/{thread_id}/stream", headers={"x-user": "alice", "last-event-id": "5"}
        )
        assert numbered_events(resumed.content)[0][0] == 6


async def test_204_when_nothing_runs(make_harness: Any) -> None:
    async with make_harness() as h:
        thread_id = await h.new_thread()
        response = await rejoin(h.client, h.url, thread_id)
    assert response.status_code == 204
    assert response.content == b""


async def test_past_the_replay_cap_the_follower_gets_an_error_event(make_harness: Any) -> None:
    limits = ReplayLimits(max_frames=6)
    async with make_harness(SLOW, coordination=MemoryCoordination(limits)) as h:
        thread_id = await h.new_thread()
        posting = asyncio.create_task(h.post(user_message("slow", thread_id)))
        await asyncio.sleep(0.3)
        followed = numbered_events((await rejoin(h.client, h.url, thread_id)).content)
        posted = parse_events((await posting).content)
    assert [index for index, _ in followed] == [1, 2, 3, 4, 5, 6, None]
    assert followed[-1][1]["type"] == "error"
    assert [event for _, event in followed[:6]] == posted[:6]
    # The turn itself was not cut short.
    assert posted[-1]["type"] == "thread.item.done"
