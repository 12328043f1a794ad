"""Attachment benchmark: a 20 MB file up and down, in PostgreSQL and on local disk.

    .venv/bin/python benchmarks/attachments_bench.py
    .venv/bin/python benchmarks/attachments_bench.py --size-mb 50 --chunk-kb 64 256 1024

For each store, in a process of its own: MB/s to store a file arriving as 64 KiB request
messages and to read it back as a response would send it, and how far the process's peak
resident memory (VmHWM, reset before each step) rose above what it used before the step.
Both are driven through the streaming face the upload routes use (`AttachmentFiles`):
`LocalAttachmentStore` gathers an upload whole before writing it and reads a file back in 64 KiB
reads; `PostgresAttachmentStore` streams both ways in slices of `--chunk-kb`.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import psycopg

from chatkit.attachments import LocalAttachmentStore
from chatkit.attachments._postgres import PostgresAttachmentStore
from chatkit.attachments._streams import AttachmentFiles, streaming_files

DSN = os.environ.get("CHATKIT_BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")
USER = {"user_id": "bench-user"}
BASE_URL = "https://bench.example/chatkit"
PIECE = 64 * 1024
T = TypeVar("T")
MIB = 1024 * 1024


def body(size: int) -> AsyncIterator[bytes]:
    """`size` bytes of incompressible PDF-looking content, as 64 KiB request messages."""
    block = os.urandom(PIECE)

    async def pieces() -> AsyncIterator[bytes]:
        for index, start in enumerate(range(0, size, PIECE)):
            piece = block[: min(PIECE, size - start)]
            yield b"%PDF-1.7\n" + piece[9:] if index == 0 else piece

    return pieces()


def rss_kib(field: str) -> int:
    """A memory figure of this process from /proc (VmRSS: now, VmHWM: peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak() -> int:
    """Reset the peak resident size (VmHWM) to the current one (writing 5 to clear_refs); the current, in KiB."""
    Path("/proc/self/clear_refs").write_text("5")
    return rss_kib("VmRSS")


async def measure(step: Callable[[], Awaitable[T]]) -> tuple[T, float, int]:
    """What `step` returns, the seconds it took and how far it raised peak resident memory, in KiB."""
    before = reset_peak()
    started = time.perf_counter()
    result = await step()
    elapsed = time.perf_counter() - started
    return result, elapsed, rss_kib("VmHWM") - before


async def run(files: AttachmentFiles, size: int, rounds: int) -> list[dict[str, Any]]:
    """Upload and download a file `rounds` times through the streaming face the routes use."""
    scope_key = files.scope_key(USER)

    async def upload() -> str:
        return (await files.add_upload("bench.pdf", "application/pdf", body(size), USER)).id

    async def download(attachment_id: str) -> None:
        opened = await files.stream_file(attachment_id, scope_key)
        assert opened is not None and opened.size == size
        async for _ in opened:
            pass

    results: list[dict[str, Any]] = []
    for _ in range(rounds):
        attachment_id, up_seconds, up_growth = await measure(upload)
        _, down_seconds, down_growth = await measure(functools.partial(download, attachment_id))
        results.append({"upload": (up_seconds, up_growth), "download": (down_seconds, down_growth)})
    return results


async def run_local(size: int, rounds: int) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as root:
        store: LocalAttachmentStore[Any] = LocalAttachmentStore(root, base_url=BASE_URL, max_bytes=size)
        return await run(streaming_files(store), size, rounds)


async def run_postgres(size: int, rounds: int, chunk_size: int) -> list[dict[str, Any]]:
    schema = f"chatkit_bench_{uuid.uuid4().hex[:8]}"
    store: PostgresAttachmentStore[Any] = PostgresAttachmentStore(
        DSN, schema=schema, base_url=BASE_URL, max_bytes=size, chunk_size=chunk_size
    )
    try:
        async with store:
            return await run(store, size, rounds)
    finally:
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


def child(argv: list[str]) -> None:
    """Measure one store in this process and print the rounds as JSON."""
    kind, size, rounds, chunk_size = argv[0], int(argv[1]), int(argv[2]), int(argv[3])
    if kind == "local":
        results = asyncio.run(run_local(size, rounds))
    else:
        results = asyncio.run(run_postgres(size, rounds, chunk_size))
    print(json.dumps(results))


def summarize(label: str, size: int, rounds: list[dict[str, Any]]) -> None:
    cells = [label]
    for step in ("upload", "download"):
        seconds = statistics.median(round_[step][0] for round_ in rounds)
        growth = max(round_[step][1] for round_ in rounds)
        cells += [f"{size / MIB / seconds:8.1f} MB/s", f"{growth / 1024:7.1f} MiB"]
    print(f"{cells[0]:<34} {cells[1]:>14} {cells[2]:>12} {cells[3]:>14} {cells[4]:>12}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=float, default=20.0, help="file size in MiB (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per store; the median time is shown")
    parser.add_argument("--chunk-kb", type=int, nargs="+", default=[256], help="PostgreSQL slice sizes in KiB")
    args = parser.parse_args(argv)
    size = int(args.size_mb * MIB)
    try:
        psycopg.connect(DSN, connect_timeout=3).close()
    except psycopg.Error as exc:
        print(f"PostgreSQL at {DSN} did not answer ({exc}); set CHATKIT_BENCH_POSTGRES_DSN", file=sys.stderr)
        return 1
    print(f"{args.size_mb:g} MiB file, 64 KiB request messages, median of {args.rounds} rounds, one process each")
    header = ("store", "upload", "peak RSS +", "download", "peak RSS +")
    print(f"{header[0]:<34} {header[1]:>14} {header[2]:>12} {header[3]:>14} {header[4]:>12}")
    runs = [("local", 0, "LocalAttachmentStore (disk)")]
    runs += [("postgres", kb * 1024, f"PostgresAttachmentStore, {kb} KiB") for kb in args.chunk_kb]
    for kind, chunk_size, label in runs:
        command = [sys.executable, __file__, "--child", kind, str(size), str(args.rounds), str(chunk_size)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        summarize(label, size, json.loads(output))
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2:])
    else:
        sys.exit(main())
