"""Bodies that drip: a request body is due in full by a deadline that only bytes move, not pauses."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from chatkit.asgi import ServeLimits
from tests.asgi.test_serve import LIST, close, closed_within, head, limited
from tests.demo.conftest import start_process
from tests.http import free_port

pytestmark = pytest.mark.process

SAMPLES = "tests.demo.sample_servers"
ANNOUNCED = 10_000_000


async def drip(writer: asyncio.StreamWriter, pause: float) -> None:
    """Send one byte of the body every `pause` seconds, for as long as the connection lasts."""
    with contextlib.suppress(OSError):
        while not writer.is_closing():
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(pause)


async def test_a_dripping_body_is_closed_by_its_total_deadline() -> None:
    # Each pause is well under body_timeout, which alone would keep the connection forever.
    async with limited(ServeLimits(body_timeout=1.0, min_body_rate=100)) as (host, port):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(head("X-Pad: x\r\n").replace(b"Content-Length: 0", f"Content-Length: {ANNOUNCED}".encode()))
        started = time.monotonic()
        dripping = asyncio.create_task(drip(writer, 0.3))
        await closed_within(reader, 4)
        assert time.monotonic() - started < 2.5
        dripping.cancel()
        await close(writer)


async def test_a_slow_but_steady_body_above_the_rate_is_served() -> None:
    body = LIST + b" " * (3_000 - len(LIST))
    async with limited(ServeLimits(body_timeout=0.5, min_body_rate=1_000)) as (host, port):
        reader, writer = await asyncio.open_connection(host, port)
        request = head(body=body)
        writer.write(request[: -len(body)])
        for offset in range(0, len(body), 100):  # 2,000 bytes/s for 1.5 s: longer than body_timeout
            writer.write(body[offset : offset + 100])
            await writer.drain()
            await asyncio.sleep(0.05)
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert answer.startswith(b"HTTP/1.1 200"), answer
        await close(writer)


@contextlib.asynccontextmanager
async def chatkit_serve(tmp_path: Path, *options: str) -> AsyncIterator[str]:
    """`chatkit serve` of the echo server behind `required_user` (X-User-Id), with `options`; yields its URL."""
    port = free_port()
    args = ["serve", f"{SAMPLES}:server", "--port", str(port), "--context", f"{SAMPLES}:required_user"]
    args += ["--log-level", "warning", *options]
    running = await asyncio.to_thread(start_process, args, cwd=tmp_path, port=port, log=tmp_path / "serve.log")
    try:
        yield running.base_url
    finally:
        await asyncio.to_thread(running.stop)


async def attack(port: int, sockets: int, user: str | None) -> list[asyncio.StreamWriter]:
    """Open `sockets` connections announcing a 10 MB body, each then dripping a byte every half second."""
    writers: list[asyncio.StreamWriter] = []
    credentials = f"X-User-Id: {user}\r\n" if user else ""
    for _ in range(sockets):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            (
                f"POST /chatkit HTTP/1.1\r\nHost: 127.0.0.1\r\n{credentials}Content-Type: application/json\r\n"
                f"Content-Length: {ANNOUNCED}\r\n\r\n"
            ).encode()
        )
        writers.append(writer)
    return writers


async def served_times(url: str, seconds: float) -> list[tuple[float, int, float]]:
    """A legitimate user's `threads.list` every 0.2 s for `seconds`: (when, status, how long it took)."""
    results: list[tuple[float, int, float]] = []
    started = time.monotonic()
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() - started < seconds:
            sent = time.monotonic()
            try:
                status = (await client.post(f"{url}/chatkit", content=LIST, headers={"x-user-id": "alice"})).status_code
            except httpx.TransportError:
                status = 0
            results.append((sent - started, status, time.monotonic() - sent))
            await asyncio.sleep(0.2)
    return results


async def test_anonymous_drips_cannot_hold_a_connection_through_chatkit_serve(tmp_path: Path) -> None:
    async with chatkit_serve(tmp_path, "--max-connections", "20") as url:
        port = int(url.rsplit(":", 1)[1])
        writers = await attack(port, 25, user=None)
        drips = [asyncio.create_task(drip(writer, 0.5)) for writer in writers]
        results = await served_times(url, 3.0)
        for task in drips:
            task.cancel()
        for writer in writers:
            await close(writer)
    # No credentials, no body read: each attacker is refused (401) at once, so the user never waits.
    assert all(status == 200 and took < 1.0 for _, status, took in results), results


async def test_authenticated_drips_are_closed_by_the_body_deadline_through_chatkit_serve(tmp_path: Path) -> None:
    options = ("--max-connections", "20", "--body-timeout", "1", "--min-body-rate", "100")
    async with chatkit_serve(tmp_path, *options) as url:
        port = int(url.rsplit(":", 1)[1])
        writers = await attack(port, 25, user="mallory")
        started = time.monotonic()
        drips = [asyncio.create_task(drip(writer, 0.5)) for writer in writers]
        results = await served_times(url, 4.0)
        await asyncio.wait_for(asyncio.gather(*drips), 5)  # every attacker's connection was closed
        closed_after = time.monotonic() - started
        for writer in writers:
            await close(writer)
    # The deadline is 1 s plus 1 s per 100 bytes received: the slots are free after about a second.
    late = [(when, status, took) for when, status, took in results if when > 2.0]
    assert late and all(status == 200 and took < 1.0 for _, status, took in late), results
    assert closed_after < 9, closed_after
