"""`uvicorn_config`: header size, slow and idle clients, and the connection cap, over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from chatkit.asgi import ServeLimits, create_app, uvicorn_config
from chatkit.stores import MemoryStore
from tests.asgi.conftest import user_context
from tests.asgi.scripted import ScriptedServer
from tests.http import free_port, parse_events, user_message

pytestmark = pytest.mark.process


@asynccontextmanager
async def limited(limits: ServeLimits, delay: float = 0.05) -> AsyncIterator[tuple[str, int]]:
    """The scripted app served by `uvicorn_config(limits=…)` on 127.0.0.1; yields the host and port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    app = create_app(ScriptedServer(MemoryStore(), delay=delay), context=user_context)
    config = uvicorn_config(app, limits=limits, log_level="warning", lifespan="off", ws="none")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield "127.0.0.1", sock.getsockname()[1]
    finally:
        server.should_exit = True
        await task
        sock.close()


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    """Everything the server sends until it closes the connection, which must happen within `seconds`."""
    return await asyncio.wait_for(reader.read(), seconds)


async def close(writer: asyncio.StreamWriter) -> None:
    """Close a client connection, whatever state the server left it in."""
    writer.close()
    with contextlib.suppress(OSError):  # reset by the server, which is what some tests expect
        await writer.wait_closed()


def head(extra: str = "", body: bytes = b"") -> bytes:
    """A `threads.list` request head for user alice."""
    return (
        "POST /chatkit HTTP/1.1\r\nHost: 127.0.0.1\r\nX-User: alice\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


LIST = b'{"type": "threads.list", "params": {}}'


async def test_a_head_over_the_limit_is_refused_before_it_is_buffered() -> None:
    async with limited(ServeLimits(max_header_bytes=4096)) as (host, port):
        # Whole in one write (a single read on the server), and a flood in pieces.
        for pieces in (1, 50):
            reader, writer = await asyncio.open_connection(host, port)
            request = head("Accept-Language: " + "en;q=0.5," * 1000 + "\r\n", LIST)
            size = len(request) // pieces + 1
            for start in range(0, len(request), size):
                if writer.is_closing():
                    break
                writer.write(request[start : start + size])
                await asyncio.sleep(0)
            try:
                answer = await closed_within(reader, 5)
            except ConnectionResetError:
                # Closed while the flood was still coming in: the kernel may reset instead.
                assert pieces > 1
            else:
                assert answer == b"" or answer.startswith(b"HTTP/1.1 431 "), (pieces, answer[:100])
                assert pieces > 1 or answer.endswith(b"\r\n\r\nrequest head too large")
            await close(writer)
        # A head under the limit is served.
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"http://{host}:{port}/chatkit", content=LIST, headers={"x-user": "alice", "x-pad": "p" * 3000}
            )
        assert response.status_code == 200


async def test_idle_and_slow_heads_are_closed_after_the_head_timeout() -> None:
    async with limited(ServeLimits(header_timeout=0.5)) as (host, port):
        idle_reader, idle = await asyncio.open_connection(host, port)
        slow_reader, slow = await asyncio.open_connection(host, port)
        started = time.monotonic()
        request = head(body=LIST)

        async def trickle() -> None:
            # One byte every 50 ms: each byte is progress, but the head is never complete in time.
            for byte in request:
                if slow.is_closing():
                    return
                slow.write(bytes([byte]))
                await asyncio.sleep(0.05)

        trickling = asyncio.create_task(trickle())
        assert await closed_within(idle_reader, 3) == b""
        assert await closed_within(slow_reader, 3) == b""
        assert time.monotonic() - started < 2
        trickling.cancel()
        await close(idle)
        await close(slow)


async def test_a_paused_body_is_closed_after_the_body_timeout() -> None:
    async with limited(ServeLimits(body_timeout=0.5)) as (host, port):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(head(body=LIST)[: -len(LIST) + 5])  # the head and the first bytes of the body
        started = time.monotonic()
        await closed_within(reader, 3)
        assert time.monotonic() - started < 2
        await close(writer)


async def test_keep_alive_connections_serve_requests_then_close_when_idle() -> None:
    async with limited(ServeLimits(header_timeout=1.0, keep_alive_timeout=1)) as (host, port):
        reader, writer = await asyncio.open_connection(host, port)
        for _ in range(3):
            writer.write(head(body=LIST))
            status = await asyncio.wait_for(reader.readline(), 5)
            assert status.startswith(b"HTTP/1.1 200 "), status
            length = 0
            while (line := await reader.readline()) != b"\r\n":
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            await asyncio.sleep(0.3)  # within the keep-alive and head timeouts
        assert await closed_within(reader, 3) == b""
        await close(writer)


async def test_connections_over_the_cap_are_answered_503() -> None:
    async with limited(ServeLimits(max_connections=3)) as (host, port):
        held = [await asyncio.open_connection(host, port) for _ in range(3)]
        await asyncio.sleep(0.1)
        reader, writer = await asyncio.open_connection(host, port)
        answer = await closed_within(reader, 3)
        assert answer.startswith(b"HTTP/1.1 503 "), answer
        await close(writer)
        for _, held_writer in held:
            await close(held_writer)
        await asyncio.sleep(0.1)
        # Once they are gone, new connections are served again.
        async with httpx.AsyncClient() as client:
            response = await client.post(f"http://{host}:{port}/chatkit", content=LIST, headers={"x-user": "alice"})
        assert response.status_code == 200


async def test_a_long_stream_is_not_cut_by_the_timeouts() -> None:
    limits = ServeLimits(header_timeout=0.3, body_timeout=0.3, keep_alive_timeout=1)
    async with limited(limits, delay=0.25) as (host, port), httpx.AsyncClient(timeout=10) as client:
        url = f"http://{host}:{port}/chatkit"
        request: dict[str, Any] = user_message("slow answer")
        started = time.monotonic()
        response = await client.post(url, json=request, headers={"x-user": "alice"})
        events = parse_events(response.content)
    # Four pauses of 0.25 s: the response outlives every timeout, which apply to the client only.
    assert time.monotonic() - started >= 1
    assert response.status_code == 200
    assert events[-1]["item"]["content"][0]["text"].endswith(":4 ")


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="header_timeout"):
        ServeLimits(header_timeout=0)


REPO = Path(__file__).resolve().parents[2]


async def test_chatkit_serve_runs_under_the_limits_given_on_its_command_line(tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "chatkit", "serve", "tests.demo.sample_servers:server", "--port", str(port)]
    command += ["--header-timeout", "0.5", "--max-header-bytes", "2048", "--log-level", "warning"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with (tmp_path / "serve.log").open("wb") as log:
        process = await asyncio.to_thread(
            subprocess.Popen, command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                assert process.poll() is None, (tmp_path / "serve.log").read_text()
                with contextlib.suppress(httpx.TransportError):
                    await client.get(f"http://127.0.0.1:{port}/")
                    break
                await asyncio.sleep(0.1)
            too_large = await client.get(f"http://127.0.0.1:{port}/", headers={"x-pad": "p" * 3000})
            assert too_large.status_code == 431
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        assert await closed_within(reader, 5) == b""
        assert time.monotonic() - started < 2
        await close(writer)
    finally:
        process.terminate()
        await asyncio.to_thread(process.wait, 10)


def test_chatkit_serve_refuses_a_limit_that_is_not_positive() -> None:
    command = [sys.executable, "-m", "chatkit", "serve", "tests.demo.sample_servers:server", "--port", str(free_port())]
    finished = subprocess.run(
        [*command, "--header-timeout", "0"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 2
    assert finished.stderr.strip() == "chatkit: error: --header-timeout must be positive, not 0.0"
