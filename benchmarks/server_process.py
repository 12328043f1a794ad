"""A benchmark's server process: the benchmark script itself run with `--serve`, on a socket made here.

Not a benchmark (no `_bench` suffix): `run.py` does not run it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from pathlib import Path

import httpx

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class ServerProcess:
    """`python SCRIPT --serve FD ARGS...` on a listening socket of its own, started and stopped with `async with`."""

    def __init__(self, script: str, *args: str, backlog: int = 256) -> None:
        self.script = script
        self.args = args
        self.backlog = backlog
        self.url = ""
        self.process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> ServerProcess:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(self.backlog)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.process = await asyncio.create_subprocess_exec(
            *(sys.executable, self.script, "--serve", str(sock.fileno()), *self.args), pass_fds=[sock.fileno()]
        )
        sock.close()
        async with httpx.AsyncClient(timeout=30) as client:
            for _ in range(300):
                try:
                    await client.post(f"{self.url}/chatkit", json={"type": "threads.list", "params": {}})
                    return self
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
        raise RuntimeError("server did not start")

    async def __aexit__(self, *_: object) -> None:
        assert self.process is not None
        self.process.terminate()
        await self.process.wait()

    def cpu(self) -> float:
        """User plus system CPU seconds of the server so far."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
