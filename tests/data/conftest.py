"""Fixtures of the data upkeep tests: moto's S3 server stops with the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.attachments.backends import stop_moto


@pytest.fixture(scope="session", autouse=True)
def _moto_server() -> Iterator[None]:
    """Stop moto's S3 server at the end of the session, if a test started it."""
    yield
    stop_moto()
