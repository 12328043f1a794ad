"""A minimal HTTP/1.1 streaming client on asyncio streams, for load runs.

Five hundred httpx streams cost the load generator more CPU than the server under test spends, on a
two-core machine; this client reads the chunked event stream with a few `readline`/`readexactly`
calls per frame. One connection per turn (`Connection: close`), as a browser tab reconnecting.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from tests.reliability.clients import Turn


async def raw_stream_turn(host: str, port: int, path: str, request: dict[str, Any], user: str, timeout: float) -> Turn:
    """POST a streaming request and read its events as they arrive; network errors and timeouts end the turn."""
    turn = Turn()
    started = time.monotonic()
    try:
        await asyncio.wait_for(_exchange(host, port, path, request, user, turn, started), timeout)
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as error:
        turn.error = f"{type(error).__name__}: {error}"
    return turn


async def _exchange(
    host: str, port: int, path: str, request: dict[str, Any], user: str, turn: Turn, started: float
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        body = json.dumps(request).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nX-User: {user}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + body)
        status_line = await reader.readline()
        turn.status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if turn.status != 200:
            turn.body = (await reader.read()).decode(errors="replace")
            return
        if headers.get("transfer-encoding") != "chunked":
            raise ValueError(f"expected a chunked event stream, got headers {headers}")
        pending = b""
        while size := int((await reader.readline()).split(b";")[0], 16):
            pending += (await reader.readexactly(size + 2))[:-2]
            *frames, pending = pending.split(b"\n\n")
            for frame in frames:
                if turn.first_event_seconds is None:
                    turn.first_event_seconds = time.monotonic() - started
                turn.events.append(json.loads(frame[len(b"data: ") :]))
    finally:
        writer.close()
