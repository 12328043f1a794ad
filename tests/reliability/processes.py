"""Store options for server subprocesses (a SQLite file or a private PostgreSQL schema per test),
and killing a server's PostgreSQL sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg

from tests.stores.backends import POSTGRES_DSN, drop_postgres_schema, postgres_schema, require_postgres


@asynccontextmanager
async def store_options(backend: str, tmp_path: Path, *, application_name: str = "") -> AsyncIterator[list[str]]:
    """Command-line options giving a `tests.reliability.serve` process its store; a PostgreSQL
    schema is dropped afterwards. `application_name` tags the server's PostgreSQL sessions."""
    if backend == "sqlite":
        yield ["--store", f"sqlite:///{tmp_path / 'chat.db'}"]
        return
    schema = postgres_schema(tmp_path)
    options = ["--store", require_postgres(), "--schema", schema]
    try:
        yield tagged(options, application_name) if application_name else options
    finally:
        await drop_postgres_schema(schema)


def tagged(options: list[str], application_name: str) -> list[str]:
    """PostgreSQL store options whose sessions carry `application_name`, so a test can find (and kill) them."""
    index = options.index("--store") + 1
    dsn = options[index]
    dsn += ("&" if "?" in dsn else "?") + f"application_name={application_name}"
    return [*options[:index], dsn, *options[index + 1 :]]


async def terminate_backends(application_name: str) -> int:
    """Terminate every PostgreSQL session tagged `application_name`; how many there were."""
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as connection:
        cursor = await connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        )
        return len(await cursor.fetchall())
