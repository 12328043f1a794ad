"""The public surface of `chatkit.stores`: names, URLs, scopes, lifecycle and optional imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import chatkit.stores
from chatkit.store import NotFoundError, Store
from chatkit.stores import (
    MemoryStore,
    PostgresStore,
    ScopedStore,
    ScopeError,
    SQLiteStore,
    StoreError,
    default_scope,
    store_from_url,
)

from .backends import STORE_BACKENDS, make_store, store_location
from .samples import thread

ALICE = {"user_id": "alice"}


def test_exported_names() -> None:
    assert sorted(chatkit.stores.__all__) == [
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
    for name in chatkit.stores.__all__:
        assert getattr(chatkit.stores, name) is not None
    for store_class in (MemoryStore, SQLiteStore, PostgresStore):
        assert issubclass(store_class, Store)
        assert not store_class.__abstractmethods__
    assert issubclass(ScopeError, ValueError) and issubclass(ScopeError, StoreError)


@pytest.mark.parametrize(
    ("url", "kind", "path"),
    [
        ("memory://", MemoryStore, None),
        ("sqlite:///relative/chatkit.db", SQLiteStore, "relative/chatkit.db"),
        ("sqlite:////abs/path/chatkit.db", SQLiteStore, "/abs/path/chatkit.db"),
        ("sqlite://:memory:", SQLiteStore, ":memory:"),
        ("SQLite:///x.db", SQLiteStore, "x.db"),
        ("postgresql://user@db.invalid:5432/app", PostgresStore, None),
        ("postgres://user@db.invalid/app", PostgresStore, None),
    ],
)
def test_store_from_url(url: str, kind: type, path: str | None) -> None:
    store = store_from_url(url)
    assert type(store) is kind
    if path is not None:
        assert getattr(store, "path", None) == path


def test_store_from_url_passes_options_and_rejects_nonsense() -> None:
    store = store_from_url("postgresql://db.invalid/app", schema="tenant_data", max_size=3)
    assert isinstance(store, PostgresStore) and store.schema == "tenant_data"
    for bad in ("chatkit.db", "mysql://db/app", "sqlite://", "sqlite://relative.db", "memory://somewhere"):
        with pytest.raises(ValueError):
            store_from_url(bad)


class _WithAttribute:
    user_id = "attr-user"


class _Tenant:
    def __init__(self, tenant: str) -> None:
        self.tenant = tenant


def test_default_scope() -> None:
    assert default_scope(_WithAttribute()) == "attr-user"
    assert default_scope({"user_id": "key-user"}) == "key-user"
    assert default_scope({"user_id": 7}) == "7"
    assert default_scope({}) is None
    assert default_scope(None) is None
    assert default_scope(object()) is None


@pytest.mark.parametrize("backend", STORE_BACKENDS)
async def test_a_custom_scope_function(backend: str, tmp_path: Path) -> None:
    def tenant_of(context: Any) -> str | None:
        return context.tenant

    async with make_store(backend, tmp_path, scope=tenant_of) as store:
        await store.save_thread(thread("thr_1"), _Tenant("acme"))
        assert (await store.load_thread("thr_1", _Tenant("acme"))).id == "thr_1"
        assert (await store.load_threads(10, None, "asc", _Tenant("globex"))).data == []


@pytest.mark.parametrize("backend", STORE_BACKENDS)
async def test_a_single_tenant_store_needs_no_scope(backend: str, tmp_path: Path) -> None:
    async with make_store(backend, tmp_path, single_tenant=True) as store:
        await store.save_thread(thread("thr_1"), None)
        assert (await store.load_thread("thr_1", {"user_id": "anyone"})).id == "thr_1"
        assert [row.id for row in (await store.load_threads(10, None, "asc", {})).data] == ["thr_1"]


@pytest.mark.parametrize("backend", STORE_BACKENDS)
async def test_lifecycle_is_explicit_yet_forgiving(backend: str, tmp_path: Path) -> None:
    async with make_store(backend, tmp_path):
        url, kwargs = store_location(backend, tmp_path)
        store = store_from_url(url, **kwargs)
        # Never opened: the first call opens it, as the reference's users expect.
        await store.save_thread(thread("thr_1"), ALICE)
        await store.open()
        await store.open()
        assert (await store.load_thread("thr_1", ALICE)).id == "thr_1"
        await store.aclose()
        await store.aclose()
        async with store as entered:
            assert entered is store
            assert (await store.load_threads(10, None, "asc", ALICE)).data


def test_the_stores_import_without_psycopg() -> None:
    script = """
import sys
sys.modules["psycopg"] = None
sys.modules["psycopg_pool"] = None
import chatkit.stores
store = chatkit.stores.store_from_url("memory://")
try:
    chatkit.stores.PostgresStore("postgresql://db.invalid/app")
except ImportError as exc:
    print(exc)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert "pip install chatkit-server[postgres]" in result.stdout


async def test_each_store_operation_is_timed_for_an_observer(store: ScopedStore) -> None:
    seen: list[tuple[str, float]] = []
    store.observe_operations(lambda method, seconds: seen.append((method, seconds)))
    await store.save_thread(thread("thr_1"), ALICE)
    await store.load_threads(10, None, "asc", ALICE)
    with pytest.raises(NotFoundError):
        await store.load_thread("thr_nope", ALICE)  # a failed operation is timed too
    store.observe_operations(None)
    await store.load_thread("thr_1", ALICE)
    assert [method for method, _ in seen] == ["save_thread", "load_threads", "load_thread"]
    assert all(seconds >= 0 for _, seconds in seen)
