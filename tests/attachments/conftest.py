"""Fixtures of the attachment tests: `files` runs a test once per attachment store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .backends import ATTACHMENT_BACKENDS, Files, make_files


@pytest.fixture(params=ATTACHMENT_BACKENDS)
async def files(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Files]:
    """A ready, empty attachment store of each kind in turn."""
    async with make_files(request.param, tmp_path) as opened:
        yield opened
