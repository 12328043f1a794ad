"""`chatkit serve --disconnect-policy grace --disconnect-grace 2`: a client that drops mid-answer, then
comes back within the grace or never, against a real process on SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.asgi.rejoin import numbered_events, rejoin, start_and_leave
from tests.demo.conftest import RunningProcess, free_port
from tests.demo.sample_servers import SLOW_INTRO, SLOW_WORDS

pytestmark = pytest.mark.process

SAMPLES = "tests.demo.sample_servers"
FULL = " ".join(f"word{n}" for n in range(1, SLOW_WORDS + 1))
GRACE = 2.0
FRAMES_READ = 15


def counted(events: list[dict[str, Any]]) -> str:
    """The counting answer's text among `events` (its deltas)."""
    return "".join(
        event["update"]["delta"]
        for event in events
        if event["type"] == "thread.item.updated" and event["update"]["type"].endswith("text_delta")
    )


async def stored_count(client: httpx.AsyncClient, url: str, thread_id: str) -> str:
    """The stored text of the counting answer (the assistant message after the intro)."""
    response = await client.post(
        f"{url}/chatkit", json={"type": "items.list", "params": {"thread_id": thread_id, "limit": 50, "order": "asc"}}
    )
    answers = [item for item in response.json()["data"] if item["type"] == "assistant_message"]
    texts = ["".join(part["text"] for part in item["content"]) for item in answers]
    assert texts[0] == SLOW_INTRO, texts
    return texts[1] if len(texts) > 1 else ""


@pytest.fixture
def graceful(chatkit_process: Callable[..., RunningProcess]) -> str:
    """The slow sample server under `chatkit serve` with the grace policy; its base URL."""
    port = free_port()
    running = chatkit_process(
        "serve",
        f"{SAMPLES}:make_slow_server",
        "--store",
        "sqlite:///grace.db",
        "--disconnect-policy",
        "grace",
        "--disconnect-grace",
        str(GRACE),
        "--port",
        str(port),
        port=port,
    )
    return running.base_url


async def test_a_client_that_drops_and_rejoins_within_the_grace_gets_the_whole_answer(graceful: str) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        seen, thread_id = await start_and_leave(client, graceful, "count", None, frames=FRAMES_READ, user="local")
        await asyncio.sleep(GRACE / 2)
        rest = numbered_events((await rejoin(client, graceful, thread_id, after=FRAMES_READ, user="local")).content)
        stored = await stored_count(client, graceful, thread_id)
    assert [index for index, _ in rest][:1] == [FRAMES_READ + 1]
    assert counted(seen + [event for _, event in rest]) == FULL
    assert stored == FULL


async def test_a_client_that_never_comes_back_leaves_at_least_what_it_saw_and_not_the_rest(graceful: str) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        seen, thread_id = await start_and_leave(client, graceful, "count", None, frames=FRAMES_READ, user="local")
        await asyncio.sleep(GRACE + 1.5)
        assert (await rejoin(client, graceful, thread_id, user="local")).status_code == 204
        stored = await stored_count(client, graceful, thread_id)
    received = counted(seen)
    assert received.startswith("word1 word2"), seen
    assert stored.startswith(received)
    # A strict prefix of the whole answer: the model's words during the grace were never taken.
    assert FULL.startswith(stored) and stored != FULL
    assert len(stored.split()) <= len(received.split()) + 1
