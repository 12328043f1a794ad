"""`chatkit serve --workers N`: N processes on one port, a dead one started again, all drained on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.demo.conftest import REPO_ROOT, free_port
from tests.http import metric_sample
from tests.stores.backends import require_postgres

pytestmark = [pytest.mark.service, pytest.mark.process]

SAMPLES = "tests.demo.sample_servers"


def worker_pids(log: Path) -> list[int]:
    return [int(pid) for pid in re.findall(r"worker \d started \(pid (\d+)\)", log.read_text())]


def listed(url: str) -> int:
    return httpx.post(f"{url}/chatkit", json={"type": "threads.list", "params": {}}, timeout=10).status_code


def test_workers_share_the_port_come_back_when_killed_and_stop_together(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "chatkit", "serve", f"{SAMPLES}:make_server", "--store", require_postgres()]
    with log.open("wb") as sink:
        supervisor = subprocess.Popen(
            [*command, "--workers", "2", "--port", str(port), "--drain-delay", "0"],
            cwd=REPO_ROOT,
            env=_environment(),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while len(worker_pids(log)) < 2 or not _answers(url):
            assert supervisor.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert all(listed(url) == 200 for _ in range(10))
        first, second = worker_pids(log)
        subprocess.run(["kill", "-9", str(first)], check=True)
        while len(worker_pids(log)) < 3:
            assert time.monotonic() < deadline + 30, log.read_text()
            time.sleep(0.2)
        # The port never stopped answering: the other worker took the connections meanwhile.
        assert all(listed(url) == 200 for _ in range(10))
        # Whichever worker answers a scrape answers for all, the dead one's requests included.
        scraped = [httpx.get(f"{url}/metrics", timeout=10).text for _ in range(4)]
        counted = [metric_sample(text, 'chatkit_requests_total{status="200",type="threads.list"}') for text in scraped]
        assert len(set(counted)) == 1 and counted[0] >= 20, counted
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(30) == 0, log.read_text()
        assert "all workers stopped" in log.read_text()
        for pid in (second, worker_pids(log)[2]):
            assert subprocess.run(["kill", "-0", str(pid)], capture_output=True).returncode != 0, pid
    finally:
        if supervisor.poll() is None:
            supervisor.kill()
            supervisor.wait()


def _environment() -> dict[str, str]:
    """This environment without `CHATKIT_` settings, with the repository's test modules importable."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CHATKIT_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    return env


def _answers(url: str) -> bool:
    try:
        return listed(url) == 200
    except httpx.TransportError:
        return False


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            ["--store", "sqlite:///chat.db"],
            "--workers 2: each worker is a process of its own, and a SQLiteStore lives in one process; "
            "give them a PostgreSQL store to share (--store postgresql://...)",
        ),
        (
            [],
            "--workers 2: each worker is a process of its own, and a MemoryStore lives in one process; "
            "give them a PostgreSQL store to share (--store postgresql://...)",
        ),
        (["--reload"], "--reload and --workers do not go together: reloading is for one development process"),
    ],
    ids=["sqlite", "memory", "reload"],
)
def test_workers_that_could_not_share_their_store_are_refused(options: list[str], message: str, tmp_path: Path) -> None:
    finished = subprocess.run(
        [
            sys.executable,
            "-m",
            "chatkit",
            "serve",
            f"{SAMPLES}:make_server",
            "--workers",
            "2",
            f"--port={free_port()}",
            *options,
        ],
        cwd=tmp_path,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert finished.returncode == 2
    assert finished.stderr.strip() == f"chatkit: error: {message}"
