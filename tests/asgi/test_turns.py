"""Turn policies (two requests on one thread) and disconnect policies (the client drops mid-stream)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, cast

import httpx

from chatkit.asgi._streaming import StopReason
from chatkit.asgi._turns import TurnGate
from chatkit.coordination import MemoryCoordination, TurnKey, TurnLocking, TurnScoping
from chatkit.store import Store
from tests.asgi.conftest import Harness
from tests.http import parse_events, user_message


async def start_held_turn(h: Harness, thread_id: str) -> tuple[asyncio.Task[httpx.Response], asyncio.Event]:
    """Start a turn that parks before its last word; returns its task and an event set once it is mid-answer."""
    h.server.first_word_sent.clear()
    task = asyncio.create_task(h.post(user_message("hold on", thread_id)))
    await asyncio.wait_for(h.server.first_word_sent.wait(), 5)
    return task, h.server.first_word_sent


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    """Wait until `check()` holds."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def kinds(items: list[dict[str, Any]]) -> list[str]:
    """Item types with the text of messages, for comparing whole threads."""
    described = []
    for item in items:
        if item["type"] in ("user_message", "assistant_message"):
            described.append(f"{item['type']}:{item['content'][0]['text']}")
        else:
            described.append(item["type"])
    return described


async def test_wait_policy_runs_the_second_turn_after_the_first(make_harness: Any) -> None:
    async with make_harness() as h:
        thread_id = await h.new_thread("start")
        first, _ = await start_held_turn(h, thread_id)
        second = asyncio.create_task(h.post(user_message("next", thread_id)))
        await asyncio.sleep(0.3)
        assert not second.done()
        h.server.release.set()
        responses = await asyncio.gather(first, second)
        assert [response.status_code for response in responses] == [200, 200]
        texts = kinds(await h.items(thread_id))
    assert texts == [
        "user_message:start",
        "assistant_message:start:0 start:1 start:2 start:3 start:4 ",
        "user_message:hold on",
        "assistant_message:hold on:0 hold on:1 hold on:2 hold on:3 hold on:4 ",
        "user_message:next",
        "assistant_message:next:0 next:1 next:2 next:3 next:4 ",
    ]


async def test_wait_policy_gives_up_after_the_timeout(make_harness: Any) -> None:
    async with make_harness(turn_wait_timeout=0.3) as h:
        thread_id = await h.new_thread()
        first, _ = await start_held_turn(h, thread_id)
        started = time.monotonic()
        second = await h.post(user_message("next", thread_id))
        assert time.monotonic() - started >= 0.3
        assert second.status_code == 409
        assert second.json()["error"]["code"] == "thread_busy"
        h.server.release.set()
        assert (await first).status_code == 200
        assert "user_message:next" not in kinds(await h.items(thread_id))


async def test_reject_policy_answers_409_at_once(make_harness: Any) -> None:
    async with make_harness(turn_policy="reject") as h:
        thread_id = await h.new_thread()
        first, _ = await start_held_turn(h, thread_id)
        started = time.monotonic()
        second = await h.post(user_message("next", thread_id))
        assert time.monotonic() - started < 0.25
        assert second.status_code == 409
        # Other threads are not affected.
        assert (await h.stream(user_message("elsewhere")))[0].status_code == 200
        h.server.release.set()
        assert (await first).status_code == 200
        third, _ = await h.stream(user_message("later", thread_id))
        assert third.status_code == 200


async def test_interrupt_policy_stops_the_running_turn_and_keeps_its_partial_answer(make_harness: Any) -> None:
    async with make_harness(turn_policy="interrupt") as h:
        thread_id = await h.new_thread("start")
        first, _ = await start_held_turn(h, thread_id)
        second, events = await h.stream(user_message("next", thread_id))
        assert second.status_code == 200
        assert events[-1]["item"]["content"][0]["text"] == "next:0 next:1 next:2 next:3 next:4 "
        interrupted = await first
        assert interrupted.status_code == 200
        *shown, notice = parse_events(interrupted.content)
        # The stopped stream ends by saying why, after the last delta it showed.
        assert shown[-1]["type"] == "thread.item.updated"
        assert notice == {"type": "notice", "level": "info", "message": StopReason.TOOK_OVER.notice}
        texts = kinds(await h.items(thread_id))
    assert texts == [
        "user_message:start",
        "assistant_message:start:0 start:1 start:2 start:3 start:4 ",
        "user_message:hold on",
        "assistant_message:hold on:0 hold on:1 hold on:2 hold on:3 ",
        "sdk_hidden_context",
        "user_message:next",
        "assistant_message:next:0 next:1 next:2 next:3 next:4 ",
    ]


async def drop_mid_stream(h: Harness, thread_id: str) -> None:
    """Start a held turn and close the connection once part of the answer arrived."""
    received = b""
    async with h.client.stream(
        "POST", f"{h.url}/chatkit", json=user_message("hold on", thread_id), headers={"x-user": "alice"}
    ) as response:
        chunks = response.aiter_raw()
        while b"hold on:3" not in received:
            received += await asyncio.wait_for(anext(chunks), 5)


async def test_cancel_on_disconnect_saves_the_partial_answer(make_harness: Any) -> None:
    async with make_harness() as h:
        thread_id = await h.new_thread("start")
        await drop_mid_stream(h, thread_id)

        async def saved() -> bool:
            return kinds(await h.items(thread_id))[-1] == "sdk_hidden_context"

        await eventually(saved)
        h.server.release.set()
        await asyncio.sleep(0.1)
        texts = kinds(await h.items(thread_id))
        assert h.server.turns_finished == 1
    assert texts[2:] == [
        "user_message:hold on",
        "assistant_message:hold on:0 hold on:1 hold on:2 hold on:3 ",
        "sdk_hidden_context",
    ]


async def test_finish_on_disconnect_completes_the_turn_in_the_background(make_harness: Any) -> None:
    async with make_harness(disconnect_policy="finish") as h:
        thread_id = await h.new_thread("start")
        await drop_mid_stream(h, thread_id)
        await asyncio.sleep(0.2)
        assert h.server.turns_finished == 1
        h.server.release.set()

        async def finished() -> bool:
            return h.server.turns_finished == 2

        await eventually(finished)
        thread = (await h.post({"type": "threads.get_by_id", "params": {"thread_id": thread_id}})).json()
    assert kinds(thread["items"]["data"])[2:] == [
        "user_message:hold on",
        "assistant_message:hold on:0 hold on:1 hold on:2 hold on:3 hold on:4 ",
    ]


async def test_another_user_can_neither_interrupt_nor_probe_a_busy_thread(make_harness: Any) -> None:
    for policy in ("interrupt", "reject"):
        async with make_harness(turn_policy=policy) as h:
            thread_id = await h.new_thread()
            first, _ = await start_held_turn(h, thread_id)
            intruder = await h.post(user_message("stop it", thread_id), user="bob")
            assert intruder.status_code == 404, policy
            h.server.release.set()
            finished = await first
            assert parse_events(finished.content)[-1]["type"] == "thread.item.done", policy


async def start_held_first_turn(h: Harness) -> tuple[asyncio.Task[httpx.Response], str]:
    """Start a `threads.create` whose answer parks before its last word; its task and the new thread's id."""
    h.server.first_word_sent.clear()
    task = asyncio.create_task(h.post(user_message("hold on")))
    await asyncio.wait_for(h.server.first_word_sent.wait(), 5)
    threads = await h.store.load_threads(10, None, "asc", {"user_id": "alice"})
    return task, threads.data[-1].id


async def test_a_new_threads_first_turn_holds_the_thread(make_harness: Any) -> None:
    for policy in ("reject", "wait", "interrupt"):
        async with make_harness(turn_policy=policy) as h:
            first, thread_id = await start_held_first_turn(h)
            second = asyncio.create_task(h.post(user_message("next", thread_id)))
            await asyncio.sleep(0.3)
            if policy == "reject":
                assert second.done() and (await second).status_code == 409
            elif policy == "wait":
                assert not second.done()
            h.server.release.set()
            created, added = await first, await second
            texts = kinds(await h.items(thread_id))
        assert created.status_code == 200, policy
        held = "assistant_message:hold on:0 hold on:1 hold on:2 hold on:3 hold on:4 "
        nexts = ["user_message:next", "assistant_message:next:0 next:1 next:2 next:3 next:4 "]
        if policy == "reject":
            assert texts == ["user_message:hold on", held]
        elif policy == "wait":
            assert added.status_code == 200
            assert texts == ["user_message:hold on", held, *nexts]
        else:
            # The newer request stopped the first turn, keeping its partial answer, before its own.
            assert added.status_code == 200
            assert texts == ["user_message:hold on", held.removesuffix("hold on:4 "), "sdk_hidden_context", *nexts]


async def test_other_users_and_unknown_ids_are_404_at_once_even_when_the_thread_is_busy(make_harness: Any) -> None:
    for policy in ("wait", "reject", "interrupt"):
        async with make_harness(turn_policy=policy, turn_wait_timeout=3) as h:
            thread_id = await h.new_thread()
            first, _ = await start_held_turn(h, thread_id)
            for user, target in (("bob", thread_id), ("bob", "thr_unknown"), ("alice", "thr_unknown")):
                started = time.monotonic()
                answer = await h.post(user_message("let me in", target), user=user)
                assert answer.status_code == 404, (policy, user, answer.text)
                assert time.monotonic() - started < 1, policy
            h.server.release.set()
            finished = await first
            assert parse_events(finished.content)[-1]["type"] == "thread.item.done", policy
            assert "user_message:let me in" not in kinds(await h.items(thread_id))


class ForeignTurnHooks:
    """Not a `ScopedStore`: offers a turn lock and a scope only by having the methods the Protocols name."""

    def __init__(self) -> None:
        self.held: list[str] = []

    @asynccontextmanager
    async def turn_lock(self, thread_id: str, context: Any) -> AsyncGenerator[None, None]:
        self.held.append(thread_id)
        yield

    def turn_scope(self, context: Any) -> str:
        return context["user_id"]


async def test_a_store_offers_its_turn_lock_and_scope_through_typed_hooks() -> None:
    hooks = ForeignTurnHooks()
    assert isinstance(hooks, TurnLocking) and isinstance(hooks, TurnScoping)
    gate = TurnGate(cast("Store[Any]", hooks), "wait", 1.0, MemoryCoordination())
    alice = {"user_id": "alice"}
    key = gate.key("thr_1", alice)
    assert key == TurnKey.of("alice", "thr_1") != gate.key("thr_1", {"user_id": "bob"})
    async with gate.turn("thr_1", alice, key, new=True):
        assert hooks.held == ["thr_1"]
    # Without the hooks: no store lock, and one scope for every caller.
    bare = TurnGate(cast("Store[Any]", object()), "wait", 1.0, MemoryCoordination())
    assert bare.key("thr_1", alice) == TurnKey.of("", "thr_1")
    async with bare.turn("thr_1", alice, bare.key("thr_1", alice), new=True):
        pass


async def test_a_drain_stops_no_turn_before_its_deadline_while_turns_come_and_go() -> None:
    # Requests already accepted when the listener closes still start turns: the drain's wait may
    # wake on a moment with none running and find one started since. It must let that one run.
    gate = TurnGate(cast("Store[Any]", object()), "wait", 1.0, MemoryCoordination())
    alice = {"user_id": "alice"}
    interrupted: list[str] = []
    churning = True

    async def one_after_another(thread_id: str) -> None:
        while churning:
            async with gate.turn(thread_id, alice, gate.key(thread_id, alice), new=True) as turn:
                await asyncio.sleep(0.002)
            if turn.interrupted:
                interrupted.append(thread_id)

    churn = [asyncio.create_task(one_after_another(f"thr_{index}")) for index in range(3)]
    stopped = asyncio.create_task(gate.finish(time.monotonic() + 5))
    await asyncio.sleep(0.5)
    churning = False
    await asyncio.gather(*churn)
    assert await stopped == 0
    assert interrupted == []
