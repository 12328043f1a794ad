"""`disconnect_policy="grace"` and the stop route, over HTTP through a real server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.asgi.rejoin import numbered_events, rejoin, start_and_leave
from tests.http import parse_events, user_message

WORDS = 10
SLOW = {"words": WORDS, "delay": 0.1}
FULL = "".join(f"slow:{index} " for index in range(WORDS))


def text_of(events: list[dict[str, Any]]) -> str:
    """The assistant text the deltas among `events` spell."""
    return "".join(
        event["update"]["delta"]
        for event in events
        if event["type"] == "thread.item.updated" and event["update"]["type"].endswith("text_delta")
    )


async def stored_answer(h: Any, thread_id: str) -> str:
    """The text of the thread's last stored assistant message."""
    items = await h.items(thread_id)
    answers = [item for item in items if item["type"] == "assistant_message"]
    return "".join(part["text"] for part in answers[-1]["content"]) if answers else ""


async def test_a_client_that_rejoins_within_the_grace_gets_the_whole_answer(make_harness: Any) -> None:
    async with make_harness(SLOW, disconnect_policy="grace", disconnect_grace=2) as h:
        thread_id = await h.new_thread()
        seen, _ = await start_and_leave(h.client, h.url, "slow", thread_id, frames=5)
        await asyncio.sleep(0.5)  # a reload's time
        rest = numbered_events((await rejoin(h.client, h.url, thread_id, after=len(seen))).content)
        stored = await stored_answer(h, thread_id)
    assert text_of(seen + [event for _, event in rest]) == FULL
    assert rest[-1][1]["type"] == "thread.item.done"
    assert stored == FULL


async def test_while_nobody_follows_the_turn_takes_no_further_events(make_harness: Any) -> None:
    async with make_harness(SLOW, disconnect_policy="grace", disconnect_grace=3) as h:
        thread_id = await h.new_thread()
        seen, _ = await start_and_leave(h.client, h.url, "slow", thread_id, frames=5)
        # Longer than the whole answer takes: a turn that went on would have finished by now.
        await asyncio.sleep(WORDS * 0.1 + 0.5)
        rest = numbered_events((await rejoin(h.client, h.url, thread_id, after=0)).content)
        stored = await stored_answer(h, thread_id)
    # The follower got the turn from its first frame, held where the client left, then to its end.
    assert text_of([event for _, event in rest]) == FULL
    assert stored == FULL


async def test_a_client_that_never_comes_back_leaves_the_answer_as_it_saw_it(make_harness: Any) -> None:
    async with make_harness(SLOW, disconnect_policy="grace", disconnect_grace=0.5) as h:
        thread_id = await h.new_thread()
        seen, _ = await start_and_leave(h.client, h.url, "slow", thread_id, frames=5)
        await asyncio.sleep(WORDS * 0.1 + 1)
        assert (await rejoin(h.client, h.url, thread_id)).status_code == 204
        stored = await stored_answer(h, thread_id)
    received = text_of(seen)
    assert received, seen
    # At least what the client had, at most a word it had not read yet; never the rest of the answer.
    assert stored.startswith(received)
    assert FULL.startswith(stored)
    assert len(stored.split()) <= len(received.split()) + 1 < WORDS


async def test_the_stop_route_stops_a_turn_at_once_whatever_the_policy(make_harness: Any) -> None:
    async with make_harness(SLOW, disconnect_policy="finish") as h:
        thread_id = await h.new_thread()
        streaming = asyncio.create_task(h.post(user_message("slow", thread_id)))
        await asyncio.sleep(0.35)
        stop = await h.client.post(f"{h.url}/chatkit/threads/{thread_id}/stop", headers={"x-user": "alice"})
        events = parse_events((await streaming).content)
        again = await h.client.post(f"{h.url}/chatkit/threads/{thread_id}/stop", headers={"x-user": "alice"})
        stored = await stored_answer(h, thread_id)
    assert stop.status_code == 200 and stop.json() == {"stopped": True}
    assert events[-1] == {"type": "notice", "level": "info", "message": "Stopped."}
    assert stored == text_of(events) != FULL
    assert again.json() == {"stopped": False}


async def test_the_stop_route_is_scoped_and_refuses_other_sites(make_harness: Any) -> None:
    async with make_harness(SLOW, disconnect_policy="grace") as h:
        thread_id = await h.new_thread()
        streaming = asyncio.create_task(h.post(user_message("slow", thread_id)))
        await asyncio.sleep(0.3)
        url = f"{h.url}/chatkit/threads/{thread_id}/stop"
        bob = await h.client.post(url, headers={"x-user": "bob"})
        unknown = await h.client.post(f"{h.url}/chatkit/threads/thr_nope/stop", headers={"x-user": "alice"})
        anonymous = await h.client.post(url)
        cross_site = await h.client.post(url, headers={"x-user": "alice", "origin": "https://evil.example"})
        wrong_method = await h.client.get(url, headers={"x-user": "alice"})
        events = parse_events((await streaming).content)
    assert (bob.status_code, unknown.status_code, anonymous.status_code) == (404, 404, 401)
    assert cross_site.status_code == 403
    assert wrong_method.status_code == 405
    # None of them stopped the owner's answer.
    assert text_of(events) == FULL


def test_a_negative_grace_or_an_unknown_policy_is_refused() -> None:
    from chatkit.asgi import ChatKitEndpoint
    from chatkit.stores import MemoryStore
    from tests.asgi.scripted import ScriptedServer

    server = ScriptedServer(MemoryStore())
    with pytest.raises(ValueError, match="disconnect_grace"):
        ChatKitEndpoint(server, disconnect_policy="grace", disconnect_grace=-1)
    with pytest.raises(ValueError, match="'grace'"):
        ChatKitEndpoint(server, disconnect_policy="later")  # type: ignore[arg-type]


async def test_a_follower_of_a_running_turn_keeps_it_going_after_its_client_left(make_harness: Any) -> None:
    # A second tab already follows the answer: the first tab closing does not hold or stop it.
    async with make_harness(SLOW, disconnect_policy="grace", disconnect_grace=0.2) as h:
        thread_id = await h.new_thread()
        leaving = asyncio.create_task(start_and_leave(h.client, h.url, "slow", thread_id, frames=6))
        await asyncio.sleep(0.15)
        followed = await rejoin(h.client, h.url, thread_id)
        await leaving
        stored = await stored_answer(h, thread_id)
    assert text_of([event for _, event in numbered_events(followed.content)]) == FULL
    assert stored == FULL


async def test_the_stopped_route_names_the_items_stopped_turns_ended_on(make_harness: Any) -> None:
    async with make_harness(SLOW, disconnect_policy="grace") as h:
        thread_id = await h.new_thread()
        stop_url = f"{h.url}/chatkit/threads/{thread_id}/stop"
        stopped_url = f"{h.url}/chatkit/threads/{thread_id}/stopped"
        alice = {"x-user": "alice"}
        assert (await h.client.get(stopped_url, headers=alice)).json() == {"items": []}
        # Stopped mid-answer: the partial answer is the stopped item.
        streaming = asyncio.create_task(h.post(user_message("slow", thread_id)))
        await asyncio.sleep(0.35)
        await h.client.post(stop_url, headers=alice)
        await streaming
        # Stopped before any word: the user's message is where that turn ended.
        streaming = asyncio.create_task(h.post(user_message("slow late", thread_id)))
        await asyncio.sleep(0.03)
        await h.client.post(stop_url, headers=alice)
        await streaming
        # A turn that finished is not stopped.
        await h.post(user_message("done", thread_id))
        stopped = (await h.client.get(stopped_url, headers=alice)).json()
        bob = await h.client.get(stopped_url, headers={"x-user": "bob"})
        items = await h.items(thread_id)
    visible = [(item["type"], item["id"]) for item in items]
    answers = [item_id for kind, item_id in visible if kind == "assistant_message"]
    users = [item_id for kind, item_id in visible if kind == "user_message"]
    # The thread: [first message, its answer], then the stopped one, the one stopped early, the last one.
    assert stopped == {"items": [answers[1], users[2]]}
    assert bob.status_code == 404
