"""Stores to run tests against: one factory for every backend, reusable by any test module.

    @pytest.mark.parametrize("backend", STORE_BACKENDS)
    async def test_something(backend: str, tmp_path: Path) -> None:
        async with make_store(backend, tmp_path) as store:
            ...

PostgreSQL tests run against `CHATKIT_TEST_POSTGRES_DSN` (default: the local server, database
`test`), each in a schema of its own that is dropped afterwards; `postgres-pgbouncer` reaches the
same server through PgBouncer in transaction-pooling mode. Without a server they skip,
except under `CI=true`, where they fail.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from chatkit.stores import ScopedStore, store_from_url

STORE_BACKENDS: list[str] = ["memory", "sqlite", "postgres"]
"""Every store backend."""

PERSISTENT_BACKENDS: list[str] = ["sqlite", "postgres"]
"""The backends whose data outlives the store object."""

PGBOUNCER_BACKEND = "postgres-pgbouncer"
"""PostgreSQL through PgBouncer in transaction-pooling mode (`tests.deploy.pgbouncer`); run by the
suites that re-run the contracts through it, not by every test of `STORE_BACKENDS`."""

POSTGRES_DSN = os.environ.get("CHATKIT_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")

# One random tag per test run, so concurrent runs on one server never share a schema.
_RUN_TAG = uuid.uuid4().hex[:8]
_postgres_problem: list[str] = []
_schema_users: dict[str, int] = {}


def require_postgres() -> str:
    """The test server's DSN; skips the test if no server answers (fails instead under CI=true)."""
    if not _postgres_problem:
        try:
            import psycopg

            with psycopg.connect(POSTGRES_DSN, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
            _postgres_problem.append("")
        except Exception as exc:
            _postgres_problem.append(f"{type(exc).__name__}: {exc}".strip())
    problem = _postgres_problem[0]
    if problem:
        message = f"PostgreSQL at {POSTGRES_DSN} did not answer ({problem})"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; under CI=true the PostgreSQL tests must run")
        pytest.skip(message + "; set CI=true to make this a failure")
    return POSTGRES_DSN


def postgres_schema(tmp_path: Path) -> str:
    """The schema name the PostgreSQL stores of the test owning `tmp_path` use."""
    return f"chatkit_test_{_RUN_TAG}_{hashlib.sha256(str(tmp_path).encode()).hexdigest()[:12]}"


def store_location(backend: str, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    """The URL and extra constructor arguments of the store `make_store` builds."""
    if backend == "memory":
        return "memory://", {}
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'chatkit.db'}", {}
    if backend == "postgres":
        return require_postgres(), {"schema": postgres_schema(tmp_path), "max_size": 4}
    if backend == PGBOUNCER_BACKEND:
        # Imported here: the PgBouncer helper itself builds on this module.
        from tests.deploy.pgbouncer import require_pgbouncer

        return require_pgbouncer(), {"schema": postgres_schema(tmp_path), "max_size": 4}
    raise ValueError(f"Unknown store backend {backend!r}")


async def drop_postgres_schema(schema: str) -> None:
    """Remove a test schema and everything in it."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as conn:
        await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


@asynccontextmanager
async def make_store(backend: str, tmp_path: Path, **store_kwargs: Any) -> AsyncIterator[ScopedStore]:
    """An open store of `backend`; stores made again for the same `tmp_path` share its data
    (except in memory). The data is removed when the last of them closes."""
    url, kwargs = store_location(backend, tmp_path)
    store = store_from_url(url, **kwargs, **store_kwargs)
    schema = kwargs.get("schema")
    if schema is not None:
        _schema_users[schema] = _schema_users.get(schema, 0) + 1
    try:
        async with store:
            yield store
    finally:
        if schema is not None:
            _schema_users[schema] -= 1
            if not _schema_users[schema]:
                del _schema_users[schema]
                await drop_postgres_schema(schema)
