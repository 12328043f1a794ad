"""Fixtures of the store tests: `store` runs a test once per backend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatkit.stores import ScopedStore

from .backends import STORE_BACKENDS, make_store, require_postgres


@pytest.fixture(params=STORE_BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ScopedStore]:
    """An open, empty store of each backend in turn."""
    async with make_store(request.param, tmp_path) as opened:
        yield opened


@pytest.fixture
def postgres_dsn() -> str:
    """The DSN of the test PostgreSQL server; skips without one (fails under CI=true)."""
    return require_postgres()
