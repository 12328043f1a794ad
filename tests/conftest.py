"""Fixtures shared by the whole suite, and the tiers its tests fall into.

A test is `unit` unless it needs the local PostgreSQL or Redis (`service`: a module's `pytestmark`,
or a store or coordination backend parameter naming PostgreSQL or PgBouncer), starts processes of
its own (`process`), drives Chromium (`browser`), runs nginx (`nginx`), or belongs to the attacks,
fuzzing and soaks of `tests/reliability` (`stress`). `make check` runs the unit tier; `make test`
runs every tier.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chatkit.store import Store
from tests.stores.backends import make_store

_TIERS = ("service", "process", "browser", "nginx", "stress")
_STRESS = Path(__file__).parent / "reliability"
_SERVICE_PARAMS = ("postgres", "pgbouncer", "s3")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store[Any]]:
    """An opened, empty memory store: the pipeline's tests run on it, since every backend is held
    to the same store contract (`tests/stores`)."""
    async with make_store("memory", tmp_path) as opened:
        yield opened


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests parametrized over PostgreSQL `service`, `tests/reliability`'s `stress`, the rest `unit`."""
    for item in items:
        if isinstance(item, pytest.Function) and _names_a_service(item):
            item.add_marker(pytest.mark.service)
        if item.path.is_relative_to(_STRESS):
            item.add_marker(pytest.mark.stress)
        if not any(item.get_closest_marker(tier) for tier in _TIERS):
            item.add_marker(pytest.mark.unit)


def _names_a_service(item: pytest.Function) -> bool:
    callspec: Any = getattr(item, "callspec", None)
    values = callspec.params.values() if callspec is not None else ()
    return any(isinstance(value, str) and value.startswith(_SERVICE_PARAMS) for value in values)
