"""Hostile clients for the slow-client runs, in a process of their own so they never slow the measuring one.

    python -m tests.reliability.attacks flood|slow|idle --port 8123 --seconds 6 --connections 10

- `flood`: each connection sends an endless `Accept-Language` header, reconnecting whenever the
  server hangs up;
- `slow`: each connection sends a request head one byte every 100 ms;
- `idle`: each connection never sends a byte.

Prints one JSON object: the bytes sent, and for held connections how long each stayed open
(None if the server never closed it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

FLOOD_CHUNK = b"en;q=0.5," * 7_000  # about 63 KB per write


async def header_flood(port: int, deadline: float, sent: list[int]) -> None:
    """One attacker: open, send an endless header, and start again whenever the server hangs up."""
    while time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.01)
            continue
        try:
            writer.write(b"POST /chatkit HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept-Language: ")
            while time.monotonic() < deadline:
                writer.write(FLOOD_CHUNK)
                await writer.drain()
                sent[0] += len(FLOOD_CHUNK)
        except OSError:
            pass  # hung up on: the flood was refused
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


@dataclass
class HeldConnection:
    """A connection the attacker keeps open, and when the server closed it."""

    opened: float
    closed: float | None = None


async def slow_head(port: int, deadline: float, held: list[HeldConnection]) -> None:
    """One attacker: send a request head one byte every 100 ms, until the server hangs up."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    connection = HeldConnection(time.monotonic())
    held.append(connection)
    head = b"POST /chatkit HTTP/1.1\r\nHost: 127.0.0.1\r\nX-User: mallory\r\n" + b"X-Pad: " + b"p" * 10_000
    watcher = asyncio.create_task(reader.read())
    try:
        for byte in head:
            if watcher.done() or time.monotonic() > deadline:
                break
            writer.write(bytes([byte]))
            await asyncio.sleep(0.1)
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            await asyncio.wait_for(watcher, max(deadline - time.monotonic(), 0.01))
        if watcher.done() and not watcher.cancelled():
            connection.closed = time.monotonic()
    finally:
        watcher.cancel()
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def idle(port: int, deadline: float, held: list[HeldConnection]) -> None:
    """One attacker: connect and never send a byte."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    connection = HeldConnection(time.monotonic())
    held.append(connection)
    try:
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            await asyncio.wait_for(reader.read(), max(deadline - time.monotonic(), 0.01))
            connection.closed = time.monotonic()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def attack(kind: str, port: int, seconds: float, connections: int) -> dict[str, object]:
    """Run `connections` attackers of `kind` until `seconds` have passed; what they saw."""
    deadline = time.monotonic() + seconds
    sent = [0]
    held: list[HeldConnection] = []
    if kind == "flood":
        await asyncio.gather(*(header_flood(port, deadline, sent) for _ in range(connections)))
    else:
        attacker = slow_head if kind == "slow" else idle
        await asyncio.gather(*(attacker(port, deadline, held) for _ in range(connections)))
    lifetimes = [None if c.closed is None else round(c.closed - c.opened, 3) for c in held]
    return {"sent": sent[0], "lifetimes": lifetimes}


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, attack, print the JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=["flood", "slow", "idle"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--connections", type=int, required=True)
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(attack(args.kind, args.port, args.seconds, args.connections))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
