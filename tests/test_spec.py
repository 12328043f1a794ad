"""The package against the shared specification: public names, wire schema and recorded transcripts."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.spec import require_spec

pytestmark = pytest.mark.process


def run_spec_script(*args: str) -> subprocess.CompletedProcess[str]:
    spec = require_spec()
    return subprocess.run(
        [sys.executable, str(spec / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_every_public_name_of_the_reference_is_importable() -> None:
    result = run_spec_script("names_check.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "359 passed, 0 failed"


def test_wire_schema_matches_the_reference() -> None:
    result = run_spec_script("schema_check.py")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "148 passed, 0 failed"


@pytest.mark.parametrize("group", ["server", "widgets", "agents", "converter"])
def test_golden_transcripts(group: str) -> None:
    spec = require_spec()
    result = run_spec_script("golden.py", "--check", str(spec / "golden"), "--group", group)
    assert result.returncode == 0, result.stdout[-20000:] + result.stderr[-5000:]
    assert result.stdout.strip().splitlines()[-1].endswith(" 0 failed")
