"""Fixtures of the attachment tests: `files` runs a test once per attachment store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from .backends import ATTACHMENT_BACKENDS, Files, make_files, stop_moto


@pytest.fixture(scope="session", autouse=True)
def _moto_server() -> Iterator[None]:
    """Stop moto's S3 server at the end of the session, if a test started it."""
    yield
    stop_moto()


@pytest.fixture(params=ATTACHMENT_BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The kind of attachment store under test."""
    return request.param


@pytest.fixture
async def files(backend: str, tmp_path: Path) -> AsyncIterator[Files]:
    """A ready, empty attachment store of each kind in turn."""
    async with make_files(backend, tmp_path) as opened:
        yield opened
