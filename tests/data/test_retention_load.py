"""The retention sweep beside live traffic, run small: every idle thread goes, every live write stays.

The latency figures come from the full run, `python benchmarks/retention_bench.py` (100,000 threads).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.demo.conftest import REPO_ROOT
from tests.stores.backends import require_postgres

pytestmark = [pytest.mark.process, pytest.mark.service]


def test_a_sweep_beside_live_clients_removes_all_idle_data_and_no_live_write() -> None:
    require_postgres()
    finished = subprocess.run(
        [sys.executable, "benchmarks/retention_bench.py", "--threads", "3000", "--clients", "4", "--check"],
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    phases = [line for line in finished.stdout.splitlines() if line.startswith(("postgres", "sqlite"))]
    assert len(phases) == 6, finished.stdout
