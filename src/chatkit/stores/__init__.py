"""Production stores behind one contract: in memory, SQLite and PostgreSQL.

Every store scopes its rows to a tenant taken from the request context (by default its
`user_id`), opens explicitly (`await store.open()`, or `async with store:`, or lazily on first
use) and offers `turn_lock(thread_id, context)` to serialize the turns run on one thread.
`store_from_url` builds one from `memory://`, `sqlite:///path.db` or `postgresql://…`.
`PostgresDatabase` is the one PostgreSQL handle a process's PostgreSQL parts share.
"""

from chatkit.stores._base import ScopedStore
from chatkit.stores._database import PostgresDatabase
from chatkit.stores._errors import (
    IdConflictError,
    ScopeError,
    StoreError,
    StoreRejectedError,
    StoreUnavailableError,
    TurnLockLostError,
)
from chatkit.stores._memory import MemoryStore
from chatkit.stores._postgres import PostgresStore
from chatkit.stores._scope import ScopeFunction, default_scope
from chatkit.stores._sqlite import SQLiteStore
from chatkit.stores._url import store_from_url

__all__ = [
    "IdConflictError",
    "MemoryStore",
    "PostgresDatabase",
    "PostgresStore",
    "SQLiteStore",
    "ScopeError",
    "ScopeFunction",
    "ScopedStore",
    "StoreError",
    "StoreRejectedError",
    "StoreUnavailableError",
    "TurnLockLostError",
    "default_scope",
    "store_from_url",
]
