"""Protocol core benchmark: per-event streaming cost, `threads.list`, and whole turns.

    python benchmarks/protocol_bench.py

Workloads match the reference measurement quoted in the protocol-core issue: a streamed reply of
N text deltas through `ChatKitServer.process` over an in-memory store, a `threads.list` page of
20, and a 20-delta turn. The baseline, measured in the same run, serializes the same events to
SSE frames with no server at all; ratios to it are what to compare across machines.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import datetime
from typing import Any

from chatkit.server import ChatKitServer, StreamingResult
from chatkit.server.results import encode_event
from chatkit.stores import MemoryStore
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartDone,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
)

CONTEXT = {"user_id": "bench"}
DELTA = "word "


_REPLIES = itertools.count()


def reply_events(thread_id: str, deltas: int) -> list[ThreadStreamEvent]:
    """The events of one streamed assistant reply of `deltas` text deltas."""
    # A new id each reply: a turn on the same thread adds a new item (reusing one is an id conflict).
    message = AssistantMessageItem(
        id=f"asst_bench_{next(_REPLIES)}", thread_id=thread_id, created_at=datetime.now(), content=[]
    )
    events: list[ThreadStreamEvent] = [
        ThreadItemAddedEvent(item=message),
        ThreadItemUpdatedEvent(
            item_id=message.id,
            update=AssistantMessageContentPartAdded(content_index=0, content=AssistantMessageContent(text="")),
        ),
    ]
    delta = ThreadItemUpdatedEvent(
        item_id=message.id, update=AssistantMessageContentPartTextDelta(content_index=0, delta=DELTA)
    )
    events.extend([delta] * deltas)
    final = AssistantMessageContent(text=DELTA * deltas)
    events.append(
        ThreadItemUpdatedEvent(
            item_id=message.id, update=AssistantMessageContentPartDone(content_index=0, content=final)
        )
    )
    events.append(ThreadItemDoneEvent(item=message.model_copy(update={"content": [final]})))
    return events


class ReplayServer(ChatKitServer[dict[str, str]]):
    """Streams a prebuilt reply, so the measurement is the pipeline, not the responder."""

    def __init__(self, store: MemoryStore, deltas: int) -> None:
        super().__init__(store)
        self.deltas = deltas

    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: dict[str, str]
    ) -> AsyncIterator[ThreadStreamEvent]:
        for event in reply_events(thread.id, self.deltas):
            yield event


def body(request_type: str, **params: Any) -> bytes:
    return json.dumps({"type": request_type, "params": params}).encode()


def user_input(text: str) -> dict[str, Any]:
    return {"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}}


async def turn(server: ChatKitServer[dict[str, str]], request: bytes) -> int:
    """Run one streaming request to the end; returns the number of frames."""
    result = await server.process(request, CONTEXT)
    assert isinstance(result, StreamingResult)
    frames = 0
    async for _frame in result:
        frames += 1
    return frames


async def timed(fn: Callable[[], Coroutine[Any, Any, Any]], repeat: int) -> float:
    """Median seconds of `repeat` runs of `fn`."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


async def per_event(deltas: int, repeat: int) -> tuple[float, float]:
    """(server µs per event, no-server baseline µs per event) for a reply of `deltas` deltas."""
    store = MemoryStore()
    await store.open()
    server = ReplayServer(store, deltas)
    request = body("threads.create", input=user_input("Go"))
    frames = await turn(server, request)
    server_s = await timed(lambda: turn(server, request), repeat)
    events = reply_events("thr_bench", deltas)

    async def baseline() -> None:
        for event in events:
            encode_event(event)

    baseline_s = await timed(baseline, repeat)
    await store.aclose()
    return server_s / frames * 1e6, baseline_s / len(events) * 1e6


async def threads_list(repeat: int) -> tuple[float, float]:
    """(µs per `threads.list` page of 20, no-server baseline µs) with 1,000 threads stored."""
    store = MemoryStore()
    await store.open()
    for n in range(1000):
        await store.save_thread(ThreadMetadata(id=f"thr_{n:05d}", created_at=datetime.now(), title=f"T{n}"), CONTEXT)
    server = ReplayServer(store, 0)
    request = body("threads.list", limit=20)

    async def listing() -> None:
        await server.process(request, CONTEXT)

    async def baseline() -> None:
        await store.load_threads(20, None, "desc", CONTEXT)

    results = (await timed(listing, repeat) * 1e6, await timed(baseline, repeat) * 1e6)
    await store.aclose()
    return results


async def whole_turn(deltas: int, repeat: int) -> float:
    """Milliseconds for one `threads.add_user_message` turn streaming `deltas` deltas."""
    store = MemoryStore()
    await store.open()
    server = ReplayServer(store, deltas)
    created = await server.process(body("threads.create", input=user_input("Go")), CONTEXT)
    assert isinstance(created, StreamingResult)
    first = await anext(aiter(created))
    thread_id = json.loads(first[6:])["thread"]["id"]
    async for _ in created:
        pass
    request = body("threads.add_user_message", thread_id=thread_id, input=user_input("Again"))
    result = await timed(lambda: turn(server, request), repeat) * 1e3
    await store.aclose()
    return result


async def main() -> None:
    print("chatkit-server protocol core benchmark (medians; baseline measured in this run)")
    server_us, baseline_us = await per_event(2000, repeat=15)
    print(
        f"streamed event, 2,000-delta reply : {server_us:6.2f} µs/event   "
        f"(serialize-only baseline {baseline_us:.2f} µs, ratio {server_us / baseline_us:.2f}x; "
        "reference 9.2 µs, target <= 1.8 µs)"
    )
    for deltas in (100, 50_000):
        s_us, b_us = await per_event(deltas, repeat=3 if deltas > 1000 else 30)
        print(f"streamed event, {deltas:>6,}-delta reply: {s_us:6.2f} µs/event   (baseline {b_us:.2f} µs)")
    list_us, list_baseline_us = await threads_list(repeat=300)
    print(
        f"threads.list page of 20           : {list_us:6.1f} µs/page    "
        f"(store-only baseline {list_baseline_us:.1f} µs; reference 2,224 µs, target <= 150 µs)"
    )
    turn_ms = await whole_turn(20, repeat=200)
    print(f"20-delta turn                     : {turn_ms:6.3f} ms/turn    (reference 2.44 ms, target <= 0.35 ms)")


if __name__ == "__main__":
    asyncio.run(main())
