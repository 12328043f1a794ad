"""Locating the shared specification folder beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SPEC_DIR = Path(__file__).resolve().parents[2] / "shared" / "spec"


def require_spec() -> Path:
    """The spec folder; skips outside CI when it is absent, fails under CI."""
    if SPEC_DIR.is_dir():
        return SPEC_DIR
    if os.environ.get("CI") == "true":
        pytest.fail(f"the specification folder {SPEC_DIR} is missing")
    pytest.skip(f"the specification folder {SPEC_DIR} is not beside this checkout")
