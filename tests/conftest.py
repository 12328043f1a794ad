"""Fixtures shared by the whole suite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chatkit.store import Store
from tests.stores.backends import STORE_BACKENDS, make_store


@pytest.fixture(params=STORE_BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store[Any]]:
    """An opened, empty store of each backend (memory, SQLite, PostgreSQL)."""
    async with make_store(request.param, tmp_path) as opened:
        yield opened
