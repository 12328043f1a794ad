"""`examples/first_server`: the getting-started server, tested by its own `test_app.py` with `chatkit.testing`,
run as a user runs it (`pytest` in the example's folder, the plugin loaded from the installed package)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.examples.support import EXAMPLES

pytestmark = pytest.mark.process


def test_the_examples_own_tests_pass_with_the_kit() -> None:
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("CHATKIT_", "PYTEST_"))}
    finished = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=EXAMPLES / "first_server",
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "3 passed" in finished.stdout, finished.stdout
