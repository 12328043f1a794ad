"""Serving the scripted server for the reliability tests: in this process, or as a subprocess to kill.

The subprocess runs `python -m tests.reliability.serve` (see that module) on a free port of
127.0.0.1; `ServerProcess` starts it, waits until it answers, and stops it gently or with SIGKILL.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from starlette.requests import Request

from chatkit.asgi import HTTPAuthError
from tests.http import free_port

REPO = Path(__file__).resolve().parents[2]


def user_context(request: Request) -> dict[str, Any]:
    """Test auth: the `X-User` header names the user; without it the request is refused (401)."""
    user = request.headers.get("x-user")
    if not user:
        raise HTTPAuthError(401, "say who you are in X-User")
    return {"user_id": user}


class ServerProcess:
    """`python -m tests.reliability.serve` in a subprocess of its own, on a free port of 127.0.0.1."""

    def __init__(self, *args: str, log: Path) -> None:
        self.args = args
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self, timeout: float = 30.0) -> None:
        """Start the server and wait until it answers HTTP."""
        command = [sys.executable, "-m", "tests.reliability.serve", "--port", str(self.port), *self.args]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        with self.log.open("ab") as log:
            self.process = await asyncio.to_thread(
                subprocess.Popen, command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                if self.process.poll() is not None:
                    raise RuntimeError(f"the server exited with {self.process.returncode}: {self.log.read_text()}")
                try:
                    await client.get(f"{self.url}/health")
                    return
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.1)

    @property
    def pid(self) -> int:
        """The server's process id."""
        assert self.process is not None
        return self.process.pid

    def rss_bytes(self) -> int:
        """The server's resident memory, from /proc."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS in /proc status")

    async def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as in a power cut or an OOM kill."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            await asyncio.to_thread(self.process.wait)

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            await asyncio.to_thread(self.process.wait, 10)
        except subprocess.TimeoutExpired:
            await self.kill()
