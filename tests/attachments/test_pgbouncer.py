"""The attachment store contract again, through PgBouncer in transaction-pooling mode."""

from __future__ import annotations

import pytest

from tests.stores.backends import PGBOUNCER_BACKEND

from . import test_contract

# Every contract test, collected again in this module, where `backend` below is the one they get.
globals().update({name: test for name, test in vars(test_contract).items() if name.startswith("test_")})


@pytest.fixture
def backend() -> str:
    """PostgresAttachmentStore reached through PgBouncer."""
    return PGBOUNCER_BACKEND
