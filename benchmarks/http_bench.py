"""HTTP benchmark: ChatKit turns served by uvicorn, against a bare Starlette endpoint streaming the same bytes.

    .venv/bin/python benchmarks/http_bench.py [--turns 800] [--deltas 200] [--concurrency 1 50 200]

Each server runs in its own process (so its CPU time and peak RSS are its own); a light raw-socket
client drives `threads.create` turns whose responder streams `--deltas` text deltas. Printed per
concurrency level: server CPU per turn, first-event latency (p50/p99), throughput; then each
server's peak RSS, the ratios against the baseline, and the targets of issue 5.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
TARGETS = {"cpu_ms": 2.0, "p99_ms_at_200": 500.0, "rss_mib": 80.0}


# -- the servers ---------------------------------------------------------------------------------


def chatkit_app(deltas: int) -> Any:
    """`create_app` around a responder that streams `deltas` words, on a `MemoryStore`."""
    from chatkit.asgi import create_app
    from chatkit.server import ChatKitServer
    from chatkit.stores import MemoryStore
    from chatkit.types import (
        AssistantMessageContent,
        AssistantMessageContentPartAdded,
        AssistantMessageContentPartTextDelta,
        AssistantMessageItem,
        ThreadItemAddedEvent,
        ThreadItemDoneEvent,
        ThreadItemUpdatedEvent,
        ThreadMetadata,
        ThreadStreamEvent,
        UserMessageItem,
    )

    class Words(ChatKitServer[None]):
        async def respond(
            self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: None
        ) -> AsyncIterator[ThreadStreamEvent]:
            item = AssistantMessageItem(
                id=self.store.generate_item_id("message", thread, context),
                thread_id=thread.id,
                created_at=datetime.now(),
                content=[],
            )
            yield ThreadItemAddedEvent(item=item)
            yield ThreadItemUpdatedEvent(
                item_id=item.id,
                update=AssistantMessageContentPartAdded(content_index=0, content=AssistantMessageContent(text="")),
            )
            for index in range(deltas):
                yield ThreadItemUpdatedEvent(
                    item_id=item.id, update=AssistantMessageContentPartTextDelta(content_index=0, delta=f"w{index} ")
                )
            item.content = [AssistantMessageContent(text="".join(f"w{index} " for index in range(deltas)))]
            yield ThreadItemDoneEvent(item=item)

    return create_app(Words(MemoryStore(single_tenant=True)))


def baseline_app(frames_file: str) -> Any:
    """A bare Starlette endpoint streaming recorded frames with `StreamingResponse`."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import StreamingResponse
    from starlette.routing import Route

    frames = [frame + b"\n\n" for frame in Path(frames_file).read_bytes().split(b"\n\n") if frame]

    async def endpoint(request: Request) -> StreamingResponse:
        await request.body()

        async def stream() -> AsyncIterator[bytes]:
            for frame in frames:
                yield frame

        return StreamingResponse(stream(), media_type="text/event-stream")

    return Starlette(routes=[Route("/chatkit", endpoint, methods=["POST"])])


def serve(kind: str, fd: int, argument: str, http: str) -> None:
    """Run one server process on an inherited listening socket."""
    import uvicorn

    app = chatkit_app(int(argument)) if kind == "chatkit" else baseline_app(argument)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", ws="none", http=http)
    # `socket(fileno=)` detects the family; uvicorn's own `fd=` assumes a Unix socket and so leaves
    # Nagle's algorithm on, which adds delayed-ACK stalls to every response.
    uvicorn.Server(config).run(sockets=[socket.socket(fileno=fd)])


# -- measuring -----------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_mib(pid: int) -> float:
    """The peak resident set size of a process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


REQUEST_BODY = json.dumps(
    {
        "type": "threads.create",
        "params": {
            "input": {"content": [{"type": "input_text", "text": "hi"}], "attachments": [], "inference_options": {}}
        },
    }
).encode()


class Connection:
    """One keep-alive HTTP/1.1 connection that posts a turn and reads the chunked answer."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def turn(self) -> tuple[float, bytes]:
        """Run one turn; the first-event latency in seconds and the raw response."""
        if self.reader is None or self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        started = time.perf_counter()
        self.writer.write(
            b"POST /chatkit HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(REQUEST_BODY), REQUEST_BODY)
        )
        first_event = 0.0
        received = bytearray()
        while not received.endswith(b"\r\n0\r\n\r\n"):
            chunk = await self.reader.read(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            received += chunk
            if not first_event and b"data: " in received:
                first_event = time.perf_counter() - started
        return first_event, bytes(received)

    def close(self) -> None:
        """Close the socket."""
        if self.writer is not None:
            self.writer.close()


async def drive(port: int, turns: int, concurrency: int) -> tuple[list[float], float]:
    """Run `turns` turns from `concurrency` clients; first-event latencies and wall time."""
    latencies: list[float] = []
    remaining = turns

    async def client() -> None:
        nonlocal remaining
        connection = Connection(port)
        try:
            while remaining > 0:
                remaining -= 1
                latency, _ = await connection.turn()
                latencies.append(latency)
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, time.perf_counter() - started


def percentile(values: list[float], fraction: float) -> float:
    """The value below which `fraction` of `values` fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


class ServerProcess:
    """A server started as a child process on a free port of 127.0.0.1."""

    def __init__(self, kind: str, argument: str, http: str) -> None:
        self.kind = kind
        self.argument = argument
        self.http = http
        self.process: asyncio.subprocess.Process | None = None
        self.port = 0

    async def start(self) -> None:
        """Start the process and wait until it answers."""
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        self.port = sock.getsockname()[1]
        self.process = await asyncio.create_subprocess_exec(
            *(sys.executable, __file__, "--serve", self.kind, str(sock.fileno()), self.argument, self.http),
            pass_fds=[sock.fileno()],
        )
        sock.close()
        deadline = time.monotonic() + 30
        while True:
            try:
                await Connection(self.port).turn()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)

    @property
    def pid(self) -> int:
        """The process id."""
        assert self.process is not None
        return self.process.pid

    async def stop(self) -> None:
        """Terminate the process."""
        if self.process is not None:
            self.process.terminate()
            await self.process.wait()


async def measure(server: ServerProcess, turns: int, concurrency: int) -> dict[str, float]:
    """Server CPU per turn, first-event latencies and throughput for one concurrency level."""
    await drive(server.port, min(turns, 50), min(concurrency, 10))  # warm up
    cpu_before = cpu_seconds(server.pid)
    latencies, wall = await drive(server.port, turns, concurrency)
    cpu = cpu_seconds(server.pid) - cpu_before
    return {
        "cpu_ms": cpu / turns * 1000,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "turns_per_s": turns / wall,
    }


def http_implementation(http: str) -> str:
    """The HTTP/1.1 implementation uvicorn uses for `--http`."""
    if http != "auto":
        return http
    try:
        import httptools  # noqa: F401
    except ImportError:
        return "h11"
    return "httptools"


async def main(turns: int, deltas: int, levels: list[int], http: str) -> int:
    """Run the benchmark and print the figures."""
    http = http_implementation(http)
    print(f"sizes: {turns} threads.create turns per level, {deltas} text deltas per turn, concurrency {levels}")
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, uvicorn with {http}, all on this machine")
    chatkit = ServerProcess("chatkit", str(deltas), http)
    await chatkit.start()
    recording = Path(f"/tmp/chatkit-bench-frames-{os.getpid()}.sse")
    try:
        _, raw = await Connection(chatkit.port).turn()
        body = raw.split(b"\r\n\r\n", 1)[1]
        await asyncio.to_thread(recording.write_bytes, _dechunk(body))
        baseline = ServerProcess("baseline", str(recording), http)
        await baseline.start()
        results: dict[tuple[str, int], dict[str, float]] = {}
        try:
            for level in levels:
                for name, server in (("baseline", baseline), ("chatkit", chatkit)):
                    results[(name, level)] = await measure(server, turns, level)
            rss = {"baseline": peak_rss_mib(baseline.pid), "chatkit": peak_rss_mib(chatkit.pid)}
        finally:
            await baseline.stop()
    finally:
        await chatkit.stop()
        await asyncio.to_thread(recording.unlink, True)

    print(f"each turn streams {body.count(b'data: ')} SSE frames ({len(_dechunk(body))} bytes)")
    print()
    print(f"{'server':<9}{'C':>5}{'CPU/turn ms':>13}{'p50 first ms':>14}{'p99 first ms':>14}{'turns/s':>10}")
    for level in levels:
        for name in ("baseline", "chatkit"):
            row = results[(name, level)]
            print(
                f"{name:<9}{level:>5}{row['cpu_ms']:>13.2f}{row['p50_ms']:>14.1f}{row['p99_ms']:>14.1f}"
                f"{row['turns_per_s']:>10.0f}"
            )
        ours, base = results[("chatkit", level)], results[("baseline", level)]
        print(
            f"{'ratio':<9}{level:>5}{ours['cpu_ms'] / base['cpu_ms']:>12.2f}x"
            f"{ours['p50_ms'] / base['p50_ms']:>13.2f}x{ours['p99_ms'] / base['p99_ms']:>13.2f}x"
        )
    print()
    print(f"peak RSS: chatkit {rss['chatkit']:.1f} MiB, baseline {rss['baseline']:.1f} MiB")
    worst_cpu = max(results[("chatkit", level)]["cpu_ms"] for level in levels)
    p99_top = results[("chatkit", max(levels))]["p99_ms"]
    print(
        f"targets: CPU/turn {worst_cpu:.2f} ms (target <= {TARGETS['cpu_ms']}), "
        f"p99 first event at C={max(levels)} {p99_top:.0f} ms (target <= {TARGETS['p99_ms_at_200']:.0f} at C=200), "
        f"peak RSS {rss['chatkit']:.1f} MiB (target <= {TARGETS['rss_mib']:.0f})"
    )
    return 0


def _dechunk(body: bytes) -> bytes:
    """The payload of a chunked HTTP/1.1 body."""
    out = bytearray()
    while body:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += rest[:size]
        body = rest[size + 2 :]
    return bytes(out)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    else:
        parser = argparse.ArgumentParser(description="ChatKit over uvicorn against a bare Starlette baseline")
        parser.add_argument("--turns", type=int, default=800)
        parser.add_argument("--deltas", type=int, default=200)
        parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 50, 200])
        parser.add_argument("--http", choices=["auto", "h11", "httptools"], default="auto")
        options = parser.parse_args()
        sys.exit(asyncio.run(main(options.turns, options.deltas, options.concurrency, options.http)))
