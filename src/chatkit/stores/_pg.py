"""PostgreSQL plumbing under `PostgresDatabase`: schema names, lock ids, migrations, failure kinds.

psycopg is imported inside the functions, so importing this module (or `chatkit.stores`) works
without it installed.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from typing import TYPE_CHECKING, Any, TypeVar

from chatkit.logger import logger
from chatkit.stores._errors import StoreError, StoreRejectedError, StoreUnavailableError

if TYPE_CHECKING:
    from psycopg import AsyncConnection

T = TypeVar("T")

_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
# SQLSTATE classes of failures that may pass: connection exceptions, transaction rollbacks
# (serialization, deadlock), insufficient resources, objects in use (lock timeouts), operator
# intervention (shutdown, cancelled statements), system errors.
_TRANSIENT_CLASSES = {"08", "40", "53", "55", "57", "58"}


def require_psycopg(hint: str) -> None:
    """Fail with `hint` (how to install them) when psycopg 3 or psycopg-pool is missing."""
    try:
        importlib.import_module("psycopg")
        importlib.import_module("psycopg_pool")
    except ImportError as exc:
        raise ImportError(hint) from exc


def quoted_schema(schema: str) -> str:
    """`schema` quoted for SQL text; `ValueError` unless it is a plain identifier.

    Checked first, so quoting cannot be escaped; quoted, the name keeps its case.
    """
    if not _SCHEMA_NAME.fullmatch(schema):
        raise ValueError(f"Schema name {schema!r} must be a plain SQL identifier (letters, digits, underscores)")
    return f'"{schema}"'


def advisory_lock_id(name: str) -> int:
    """A signed 64-bit advisory lock id, the same in every process."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


async def pooled(conn: AsyncConnection[Any]) -> bool:
    """Whether a pooler (PgBouncer) stands between `conn` and PostgreSQL.

    A pooler answers the client with a process id of its own, so PostgreSQL's differs from it.
    """
    row = await (await conn.execute(b"SELECT pg_backend_pid()")).fetchone()
    return row is not None and row[0] != conn.info.backend_pid


async def migrate(
    conn: AsyncConnection[Any],
    *,
    schema: str,
    version_table: str,
    migrations: list[list[str]],
    lock_name: str,
    tables: str,
) -> None:
    """Bring the tables of `migrations` in `schema` to the latest version, recorded in `version_table`.

    Runs in the caller's transaction. `tables` names them in the error refusing a newer database
    ("The database schema 'x' is").
    """
    s = quoted_schema(schema)
    latest = len(migrations)
    # The transaction-scoped advisory lock makes concurrent migrations (several processes
    # starting at once) take turns; the later ones find the schema current.
    await conn.execute(b"SELECT pg_advisory_xact_lock(%s)", (advisory_lock_id(f"{lock_name}\0{schema}"),))
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}".encode())
    await conn.execute(f"CREATE TABLE IF NOT EXISTS {s}.{version_table} (version integer NOT NULL)".encode())
    recorded = await recorded_version(conn, schema, version_table)
    version = recorded or 0
    if version > latest:
        raise StoreError(
            f"{tables} at version {version}, newer than this chatkit supports ({latest}); upgrade chatkit-server."
        )
    for statements in migrations[version:]:
        for statement in statements:
            await conn.execute(statement.format(s=s).encode())
    if recorded is None:
        await conn.execute(f"INSERT INTO {s}.{version_table} (version) VALUES (%s)".encode(), (latest,))
    else:
        await conn.execute(f"UPDATE {s}.{version_table} SET version = %s".encode(), (latest,))


async def recorded_version(conn: AsyncConnection[Any], schema: str, version_table: str) -> int | None:
    """The version recorded in `version_table` of `schema`, None before the first migration."""
    query = f"SELECT version FROM {quoted_schema(schema)}.{version_table}".encode()
    row = await (await conn.execute(query)).fetchone()
    return None if row is None else int(row[0])


def failure(exc: Exception, broken: bool) -> StoreError:
    """The store error for a failed operation, logged with its cause: transient or permanent."""
    import psycopg

    state = exc.sqlstate if isinstance(exc, psycopg.Error) else None
    if broken or state is None or state[:2] in _TRANSIENT_CLASSES:
        logger.warning("PostgreSQL is unavailable: %s", exc, exc_info=exc)
        return StoreUnavailableError(f"PostgreSQL operation failed: {exc}")
    logger.error("PostgreSQL refused an operation (SQLSTATE %s): %s", state, exc, exc_info=exc)
    return StoreRejectedError(f"PostgreSQL refused the operation (SQLSTATE {state}): {exc}")
