"""Helpers for the demo, CLI and browser tests: real processes on free ports, and SSE parsing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from tests.http import free_port as free_port
from tests.http import parse_events as parse_events
from tests.http import user_message as user_message

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
STARTUP_TIMEOUT = 30.0


class RunningProcess:
    """A command serving HTTP on `base_url`, with its output kept for failure messages."""

    def __init__(self, process: subprocess.Popen[bytes], base_url: str, log: Path) -> None:
        self.process = process
        self.base_url = base_url
        self.log = log

    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> int:
        """Stop it the way a person does (Ctrl-C) and return its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_process(
    args: list[str], *, cwd: Path, port: int, env: Mapping[str, str] | None = None, log: Path
) -> RunningProcess:
    """Start `python -m chatkit ARGS` and wait until it answers HTTP on `port`."""
    environment = {key: value for key, value in os.environ.items() if not key.startswith("OPENAI_")}
    environment.update(env or {})
    # The repository root on the path lets `chatkit serve` import test modules from any directory.
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), environment.get("PYTHONPATH")]))
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "chatkit", *args], cwd=cwd, env=environment, stdout=sink, stderr=subprocess.STDOUT
        )
    running = RunningProcess(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"`chatkit {' '.join(args)}` exited with {process.returncode}:\n{running.output()}")
        try:
            httpx.get(f"{running.base_url}/", timeout=1.0)
            return running
        except httpx.TransportError:
            time.sleep(0.1)
    running.stop()
    pytest.fail(f"`chatkit {' '.join(args)}` did not answer on port {port}:\n{running.output()}")


@pytest.fixture
def chatkit_process(tmp_path: Path) -> Iterator[Callable[..., RunningProcess]]:
    """Start `python -m chatkit ...` processes (in `tmp_path` unless told otherwise); all stop afterwards."""
    started: list[RunningProcess] = []

    def start(*args: str, port: int, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> RunningProcess:
        log = tmp_path / f"chatkit-{len(started)}.log"
        running = start_process(list(args), cwd=cwd or tmp_path, port=port, env=env, log=log)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
