"""Running an example as a real process on a free port, and talking ChatKit to it over HTTP."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.http import free_port as free_port
from tests.http import parse_events as parse_events

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STARTUP_TIMEOUT = 30.0


class RunningApp:
    """An example serving HTTP at `base_url`, its output kept for failure messages."""

    def __init__(self, base_url: str, log: Path) -> None:
        self.base_url = base_url
        self.log = log

    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")


@asynccontextmanager
async def running_app(
    args: Sequence[str], *, cwd: Path, port: int, log: Path, env: Mapping[str, str], ready_path: str = "/healthz"
) -> AsyncIterator[RunningApp]:
    """Run `python ARGS` in `cwd` until the block ends, once `ready_path` answers on `port`."""
    # No key of the developer's may reach a test: the examples must run on what the test gives them.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("OPENAI_")}
    environment.update(env)
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *args, cwd=cwd, env=environment, stdout=sink, stderr=asyncio.subprocess.STDOUT
        )
    app = RunningApp(f"http://127.0.0.1:{port}", log)
    try:
        await _wait_until_ready(process, app, ready_path)
        yield app
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 15)
            except asyncio.TimeoutError:
                process.kill()
                await process.wait()


async def _wait_until_ready(process: asyncio.subprocess.Process, app: RunningApp, path: str) -> None:
    # Polled without blocking: a fake model server may be serving on this same event loop.
    async with httpx.AsyncClient(timeout=1.0) as client:
        deadline = asyncio.get_running_loop().time() + STARTUP_TIMEOUT
        while asyncio.get_running_loop().time() < deadline:
            if process.returncode is not None:
                raise AssertionError(f"the example exited with {process.returncode}:\n{app.output()}")
            try:
                await client.get(app.base_url + path)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise AssertionError(f"the example did not answer within {STARTUP_TIMEOUT} s:\n{app.output()}")


def user_input(text: str, attachments: Sequence[str] = ()) -> dict[str, Any]:
    """The `input` of a user message."""
    return {
        "content": [{"type": "input_text", "text": text}],
        "attachments": list(attachments),
        "inference_options": {},
    }


async def stream(client: httpx.AsyncClient, url: str, request: dict[str, Any]) -> list[dict[str, Any]]:
    """POST a streaming ChatKit request and return its events."""
    response = await client.post(url, json=request)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return parse_events(response.content)


def assistant_text(events: Sequence[dict[str, Any]]) -> str:
    """The text of the assistant messages completed in `events`."""
    return "".join(
        part["text"]
        for event in events
        if event["type"] == "thread.item.done" and event["item"]["type"] == "assistant_message"
        for part in event["item"]["content"]
    )


def done_items(events: Sequence[dict[str, Any]], item_type: str) -> list[dict[str, Any]]:
    """The items of type `item_type` completed in `events`."""
    return [
        event["item"] for event in events if event["type"] == "thread.item.done" and event["item"]["type"] == item_type
    ]
