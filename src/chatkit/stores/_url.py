"""Building a store from a URL, as the CLI and the HTTP app take it."""

from __future__ import annotations

from typing import Any

from chatkit.stores._base import ScopedStore
from chatkit.stores._memory import MemoryStore
from chatkit.stores._postgres import PostgresStore
from chatkit.stores._sqlite import SQLiteStore


def store_from_url(url: str, **kwargs: Any) -> ScopedStore:
    """An unopened store for `url`: `memory://`, `sqlite:///relative.db`, `sqlite:////abs.db`,
    `sqlite://:memory:` or `postgresql://…`; `kwargs` go to the store's constructor."""
    scheme, separator, rest = url.partition("://")
    scheme = scheme.lower()
    if not separator:
        raise ValueError(f"Store URL {url!r} has no scheme; expected memory://, sqlite:///path.db or postgresql://…")
    if scheme == "memory":
        if rest:
            raise ValueError(f"A memory store URL takes no path: {url!r}; use memory://")
        return MemoryStore(**kwargs)
    if scheme == "sqlite":
        if rest == ":memory:" or rest == "/:memory:":
            return SQLiteStore(":memory:", **kwargs)
        if not rest.startswith("/") or rest == "/":
            raise ValueError(f"SQLite store URL {url!r} needs a path: sqlite:///relative.db or sqlite:////abs/path.db")
        # sqlite:///name.db is relative to the working directory; a fourth slash makes it absolute.
        return SQLiteStore(rest[1:], **kwargs)
    if scheme in ("postgresql", "postgres"):
        return PostgresStore(url, **kwargs)
    raise ValueError(f"Unknown store URL scheme {scheme!r} in {url!r}; expected memory, sqlite or postgresql")
