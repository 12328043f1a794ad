"""SIGTERM to `chatkit serve`: readiness fails at once; a running answer finishes, or is stopped at the deadline."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatkit.asgi._streaming import StopReason
from chatkit.cli import LOCAL_USER
from chatkit.stores import SQLiteStore
from tests.demo.conftest import RunningProcess, free_port, start_process
from tests.demo.sample_servers import SLOW_INTRO, SLOW_WORDS
from tests.http import user_message

pytestmark = pytest.mark.process

SLOW = "tests.demo.sample_servers:make_slow_server"


def serve(tmp_path: Path, *drain: str) -> RunningProcess:
    port = free_port()
    args = ["serve", SLOW, "--store", "sqlite:///chat.db", "--port", str(port), *drain]
    return start_process(args, cwd=tmp_path, port=port, log=tmp_path / f"serve-{port}.log")


class Answer:
    """A streamed answer read on a thread of its own, with the moment its first delta arrived."""

    def __init__(self, base_url: str) -> None:
        self.events: list[dict[str, Any]] = []
        self.first_delta = threading.Event()
        self.finished = threading.Event()
        self._thread = threading.Thread(target=self._read, args=(base_url,), daemon=True)
        self._thread.start()

    def _read(self, base_url: str) -> None:
        try:
            with httpx.stream("POST", f"{base_url}/chatkit", json=user_message("count"), timeout=60) as response:
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        self.events.append(json.loads(line[len("data: ") :]))
                        if self.events[-1].get("type") == "thread.item.updated":
                            self.first_delta.set()
        finally:
            self.finished.set()

    def text(self) -> str:
        done = [e["item"] for e in self.events if e["type"] == "thread.item.done"]
        return done[-1]["content"][0]["text"] if done and done[-1]["content"] else ""


def exit_status(running: RunningProcess, timeout: float) -> int:
    try:
        return running.process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        running.process.kill()
        pytest.fail(f"the process did not exit within {timeout} s of SIGTERM:\n{running.output()}")


def test_sigterm_fails_readiness_at_once_and_lets_the_running_answer_finish(tmp_path: Path) -> None:
    running = serve(tmp_path, "--drain-delay", "1", "--drain-timeout", "20")
    assert httpx.get(f"{running.base_url}/readyz").status_code == 200
    answer = Answer(running.base_url)
    assert answer.first_delta.wait(15), running.output()
    started = time.monotonic()
    running.process.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    # Still listening during the delay, but out of rotation.
    ready = httpx.get(f"{running.base_url}/readyz")
    assert (ready.status_code, ready.json()) == (503, {"status": "draining"})
    # Each answer now closes its connection, so a proxy keeps none idle to a process about to go.
    assert ready.headers["connection"] == "close"
    assert answer.finished.wait(30), running.output()
    assert answer.text() == " ".join(f"word{n}" for n in range(1, SLOW_WORDS + 1))
    assert exit_status(running, 15) in (0, -signal.SIGTERM, 143)
    # The answer took its ~6 s, well past the delay: the drain waited for it, no longer than needed.
    assert time.monotonic() - started < 15


def test_an_answer_still_running_at_the_drain_deadline_is_stopped_and_saved(tmp_path: Path) -> None:
    running = serve(tmp_path, "--drain-delay", "0.2", "--drain-timeout", "1")
    answer = Answer(running.base_url)
    assert answer.first_delta.wait(15), running.output()
    running.process.send_signal(signal.SIGTERM)
    assert answer.finished.wait(20), running.output()
    assert exit_status(running, 15) in (0, -signal.SIGTERM, 143)
    thread_id = answer.events[0]["thread"]["id"]
    assert answer.text() == SLOW_INTRO, "the counted answer was cut, never finished"
    assert answer.events[-1] == {"type": "notice", "level": "info", "message": StopReason.RESTARTING.notice}
    # Stopped as a user's stop stops a turn: the partial count is kept, and the cancellation is
    # recorded for the model's next turn.
    saved = asyncio.run(saved_items(tmp_path / "chat.db", thread_id))
    assert saved == ["user_message", "assistant_message", "assistant_message", "sdk_hidden_context"], saved


async def saved_items(path: Path, thread_id: str) -> list[str]:
    async with SQLiteStore(path) as store:
        page = await store.load_thread_items(thread_id, None, 50, "asc", {"user_id": LOCAL_USER})
    return [item.type for item in page.data]


def test_an_idle_connection_outlives_the_listener_and_answers_one_last_request(tmp_path: Path) -> None:
    # A proxy keeps idle connections to the process and may pick one for a POST at any moment:
    # closed under it as the listener closes, that POST would be a 502. The process leaves idle
    # connections to their keep-alive timeout instead, answering a last request with `Connection: close`.
    running = serve(tmp_path, "--drain-delay", "0.5", "--drain-timeout", "10", "--keep-alive-timeout", "4")
    host, port = running.base_url.removeprefix("http://").split(":")
    body = json.dumps({"type": "threads.list", "params": {}}).encode()
    request = (
        b"POST /chatkit HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(request)
        first = read_response(connection)
        assert b"200 OK" in first and b"connection: close" not in first.lower()
        running.process.send_signal(signal.SIGTERM)
        time.sleep(1.5)
        # The listener is closed by now: a new connection is refused.
        with pytest.raises(OSError):
            socket.create_connection((host, int(port)), timeout=2).close()
        connection.sendall(request)
        last = read_response(connection)
        assert b"200 OK" in last and b"connection: close" in last.lower()
        assert connection.recv(1) == b"", "the connection stayed open after its last answer"
    assert exit_status(running, 15) in (0, -signal.SIGTERM, 143)


def read_response(connection: socket.socket) -> bytes:
    """One whole HTTP/1.1 response with a `Content-Length` body, read off the socket."""
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        assert chunk, f"the connection closed mid-response: {received!r}"
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = connection.recv(65536)
        assert chunk, "the connection closed mid-body"
        body += chunk
    return head + b"\r\n\r\n" + body
