"""The public store contract (`chatkit.testing.contract`) held by our stores, and a broken store's failures."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chatkit.store import Store
from chatkit.testing.contract import StoreContract
from tests.stores.backends import STORE_BACKENDS, make_store


class TestOurStores(StoreContract):
    """Every backend we ship, through the public contract a user's store is held to."""

    @pytest.fixture(params=STORE_BACKENDS)
    async def store(self, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store[Any]]:  # type: ignore[override]
        async with make_store(request.param, tmp_path) as store:
            yield store


pytest_plugins = ["pytester"]

LEAKY_STORE = '''
import pytest

from chatkit.stores import MemoryStore
from chatkit.testing.contract import StoreContract


class LeakyStore(MemoryStore):
    """Scopes nothing: every user shares one tenant."""

    def __init__(self):
        super().__init__(scope=lambda context: "everyone")


class TestLeakyStore(StoreContract):
    @pytest.fixture
    def store(self):
        return LeakyStore()
'''


@pytest.mark.process
def test_a_store_that_leaks_between_users_fails_with_a_readable_message(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_leaky=LEAKY_STORE)
    result = pytester.runpytest_subprocess("-p", "no:randomly", "-p", "asyncio", "-o", "asyncio_mode=auto")
    result.assert_outcomes(failed=1, passed=10)
    assert "bob lists alice's thread" in result.stdout.str()
