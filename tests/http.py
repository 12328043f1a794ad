"""HTTP test support shared by the suites that talk to a real server: serving, ports, SSE bodies."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import httpx
import uvicorn
from starlette.types import ASGIApp

from tests.stores.backends import drop_postgres_schema, postgres_schema, require_postgres

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@asynccontextmanager
async def serving(app: ASGIApp, *, lifespan: Literal["on", "off"] = "off") -> AsyncIterator[str]:
    """Serve `app` with uvicorn on a free port of 127.0.0.1 in this event loop; yields the base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, log_level="warning", lifespan=lifespan, ws="none", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@asynccontextmanager
async def postgres_app_processes(
    tmp_path: Path, module: str, *args: str, count: int = 2, headers: Mapping[str, str] | None = None
) -> AsyncIterator[list[str]]:
    """`count` processes of the app `module`, on one PostgreSQL schema of their own; yields their base URLs.

    Each runs `python -m module <listening socket fd> <dsn> <schema> *args` and is ready once it
    answers a `threads.list` (sent with `headers`).
    """
    dsn = require_postgres()
    schema = postgres_schema(tmp_path)
    processes: list[asyncio.subprocess.Process] = []
    urls: list[str] = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            sock.listen(64)
            urls.append(f"http://127.0.0.1:{sock.getsockname()[1]}")
            processes.append(
                await asyncio.create_subprocess_exec(
                    *(sys.executable, "-m", module, str(sock.fileno()), dsn, schema, *args),
                    cwd=ROOT,
                    pass_fds=[sock.fileno()],
                    env={**os.environ, "PYTHONWARNINGS": "error"},
                )
            )
            sock.close()
        async with httpx.AsyncClient(timeout=30) as client:
            for url in urls:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        await client.post(
                            f"{url}/chatkit", json={"type": "threads.list", "params": {}}, headers=headers
                        )
                        break
                    except httpx.TransportError:
                        assert time.monotonic() < deadline, "server process did not start"
                        await asyncio.sleep(0.1)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            await asyncio.wait_for(process.wait(), 10)
        await drop_postgres_schema(schema)


def parse_events(body: bytes) -> list[dict[str, Any]]:
    """The events of an SSE body, checking every frame is exactly `data: <json>` and a blank line."""
    assert body.endswith(b"\n\n") or not body, body[-200:]
    events: list[dict[str, Any]] = []
    for frame in body.split(b"\n\n")[:-1]:
        assert frame.startswith(b"data: "), frame
        events.append(json.loads(frame[len(b"data: ") :]))
    return events


def user_message(text: str, thread_id: str | None = None, attachments: list[str] | None = None) -> dict[str, Any]:
    """A `threads.create` request, or `threads.add_user_message` when `thread_id` is given."""
    user_input = {
        "content": [{"type": "input_text", "text": text}],
        "attachments": attachments or [],
        "inference_options": {},
    }
    if thread_id is None:
        return {"type": "threads.create", "params": {"input": user_input}}
    return {"type": "threads.add_user_message", "params": {"thread_id": thread_id, "input": user_input}}


def metric_sample(text: str, line: str) -> float:
    """The value of the sample named `line` (name and labels, exactly) in a Prometheus exposition."""
    for row in text.splitlines():
        name, _, value = row.rpartition(" ")
        if name == line:
            return float(value)
    raise AssertionError(f"no sample {line!r} in:\n{text}")
