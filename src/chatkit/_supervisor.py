"""`chatkit serve --workers N`: N server processes on one listening socket, kept running, stopped together.

The supervisor binds the socket and starts each worker as `chatkit serve` of its own, handing it
the socket's file descriptor: the kernel spreads connections over the workers. A worker that dies
is started again; one that keeps dying at once stops the whole. SIGTERM or Ctrl-C is passed to
every worker, which drains as a single `chatkit serve` does, and the supervisor exits once all
have. With `prometheus-client` installed, the workers keep their metrics in one folder
(`PROMETHEUS_MULTIPROC_DIR`, a temporary one unless set), so whichever worker a scrape of
`/metrics` reaches answers for them all.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from types import FrameType

# A worker that dies this soon after its start, this many times in a row, is not started again.
_QUICK_DEATH_SECONDS = 5.0
_QUICK_DEATHS_ALLOWED = 5
_POLL_SECONDS = 0.2


def report(message: str) -> None:
    """One line about the workers on stderr."""
    print(f"chatkit: {message}", file=sys.stderr, flush=True)


class Supervisor:
    """Runs `count` workers (`worker_command(fd)` each) on `listener`, restarting the ones that die."""

    def __init__(self, worker_command: Sequence[str], listener: socket.socket, count: int) -> None:
        self.command = [*worker_command, "--fd", str(listener.fileno())]
        self.listener = listener
        self.workers: list[subprocess.Popen[bytes] | None] = [None] * count
        self.started_at = [0.0] * count
        self.quick_deaths = [0] * count
        self.stop_signal: int | None = None

    def run(self) -> int:
        """Serve until a stop signal (0 once every worker is gone) or a worker that keeps dying (1)."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        metrics_dir = _shared_metrics_dir()
        try:
            for index in range(len(self.workers)):
                self._start(index)
            while self.stop_signal is None:
                time.sleep(_POLL_SECONDS)
                if not self._tend():
                    self._stop(signal.SIGTERM)
                    return 1
            self._stop(self.stop_signal)
            return 0
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.listener.close()
            if metrics_dir is not None:
                shutil.rmtree(metrics_dir, ignore_errors=True)
                del os.environ[_METRICS_DIR_ENV]

    def _on_signal(self, sig: int, frame: FrameType | None) -> None:
        if self.stop_signal is not None:
            # A second signal: the workers get it too, and stop as a second one stops them.
            for worker in self.workers:
                if worker is not None and worker.poll() is None:
                    worker.send_signal(sig)
        self.stop_signal = sig

    def _start(self, index: int) -> None:
        # A session of its own: a terminal's Ctrl-C reaches the supervisor alone, which passes it on
        # once (a worker getting it twice would stop at once instead of draining).
        worker = subprocess.Popen(self.command, pass_fds=(self.listener.fileno(),), start_new_session=True)
        self.workers[index] = worker
        self.started_at[index] = time.monotonic()
        report(f"worker {index + 1} started (pid {worker.pid})")

    def _tend(self) -> bool:
        """Start again the workers that died; False if one keeps dying at once."""
        for index, worker in enumerate(self.workers):
            if worker is None or worker.poll() is None:
                continue
            quick = time.monotonic() - self.started_at[index] < _QUICK_DEATH_SECONDS
            self.quick_deaths[index] = self.quick_deaths[index] + 1 if quick else 0
            report(f"worker {index + 1} (pid {worker.pid}) exited with status {worker.returncode}")
            _forget_metrics_of(worker.pid)
            if self.quick_deaths[index] >= _QUICK_DEATHS_ALLOWED:
                report(f"worker {index + 1} keeps dying at once; stopping")
                return False
            self._start(index)
        return True

    def _stop(self, sig: int) -> None:
        """Pass `sig` to every worker still running and wait for each to finish its drain."""
        running = [worker for worker in self.workers if worker is not None and worker.poll() is None]
        for worker in running:
            worker.send_signal(sig)
        for worker in running:
            worker.wait()
        report("all workers stopped")


_METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


def _shared_metrics_dir() -> str | None:
    """Make the folder the workers share their metrics through (set in the environment they inherit).

    None when metrics are off (no `prometheus-client`) or the folder was given: then it is not ours to remove.
    """
    if importlib.util.find_spec("prometheus_client") is None or os.environ.get(_METRICS_DIR_ENV):
        return None
    folder = tempfile.mkdtemp(prefix="chatkit-metrics-")
    os.environ[_METRICS_DIR_ENV] = folder
    return folder


def _forget_metrics_of(pid: int) -> None:
    """Drop a dead worker's live gauges from the shared metrics (its counters stay counted)."""
    if os.environ.get(_METRICS_DIR_ENV) and importlib.util.find_spec("prometheus_client") is not None:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # pyright: ignore[reportUnknownMemberType]
