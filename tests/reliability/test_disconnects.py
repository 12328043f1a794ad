"""Disconnect storms: clients that vanish mid-stream, again and again, on every thread at once.

The server keeps what each stopped answer had shown, releases the thread, and every thread then
takes a complete new turn; the stored threads stay well-formed (each answer follows its message).
"""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path
from typing import Any

import httpx

from tests.reliability.clients import all_items, message_request, stream_turn, turns_of
from tests.reliability.scripted import PARTS
from tests.reliability.serving import ServerProcess

THREADS = 30
ROUNDS = 5
USER = "fickle"


async def read_then_vanish(port: int, request: dict[str, Any], events: int) -> None:
    """Send a streaming request, read `events` events, then drop the connection without a word."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps(request).encode()
    head = (
        f"POST /chatkit HTTP/1.1\r\nHost: 127.0.0.1\r\nX-User: {USER}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    seen = 0
    while seen < events and (line := await reader.readline()):
        seen += line.startswith(b"data: ")
    writer.transport.abort()


async def test_threads_survive_clients_vanishing_mid_stream(tmp_path: Path) -> None:
    rng = random.Random(5)
    server = ServerProcess(
        "--store", f"sqlite:///{tmp_path / 'chat.db'}", "--deltas", "10", "--pause", "0.05", log=tmp_path / "server.log"
    )
    await server.start()
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            url = f"{server.url}/chatkit"
            seeds = await asyncio.gather(
                *(stream_turn(client, url, message_request(f"t{n}"), USER) for n in range(THREADS))
            )
            thread_ids = [turn.thread_id or "" for turn in seeds]
            for round_ in range(ROUNDS):
                await asyncio.gather(
                    *(
                        read_then_vanish(server.port, message_request(f"round {round_}", thread_id), rng.randint(1, 25))
                        for thread_id in thread_ids
                    )
                )
            after = await asyncio.gather(
                *(
                    stream_turn(client, url, message_request("still there?", thread_id), USER)
                    for thread_id in thread_ids
                )
            )
            assert all(turn.completed for turn in after), [(turn.status, turn.body) for turn in after]
            for number, thread_id in enumerate(thread_ids):
                turns = turns_of(await all_items(client, url, thread_id, USER))
                rounds = [f"round {round_}" for round_ in range(ROUNDS)]
                assert [text for text, _ in turns] == [f"t{number}", *rounds, "still there?"]
                for _, (message_id, *answers) in turns:
                    expected = [f"{message_id} part {part}" for part in range(1, PARTS + 1)]
                    assert [answer.split(":")[0] for answer in answers] == expected[: len(answers)]
                assert len(turns[-1][1]) == 1 + PARTS
        assert "Traceback" not in (tmp_path / "server.log").read_text()
    finally:
        await server.stop()
