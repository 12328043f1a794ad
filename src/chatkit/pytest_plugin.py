"""The pytest plugin of `chatkit.testing`, registered by the package's `pytest11` entry point.

It lives outside `chatkit.testing` and imports the kit only when a fixture is used: pytest loads
it in every run of every project that installs this package, which must not pay for the kit.

Fixtures:

- `chatkit_store`: a fresh store for the test, `MemoryStore` by default; `--chatkit-store sqlite`
  gives a `SQLiteStore` in the test's temporary folder, `--chatkit-store postgresql://...` a
  `PostgresStore` in a schema of its own, dropped after the test (the `CHATKIT_TEST_STORE`
  variable does the same as the option).
- `chatkit_server`: the server named by `--chatkit-server MODULE:ATTR` (or the `chatkit_server`
  ini option): a `ChatKitServer`, or a factory called with `chatkit_store` when it takes one
  argument. Override the fixture to build the server yourself.
- `chatkit_client`: a `ChatKitTestClient` of `chatkit_server`, in process, as the user
  `test-user`: the context `{"user_id": "test-user"}`, or what the `chatkit_context` ini option
  (`MODULE:ATTR`, called with the user id) builds, say your context class. Build more with
  `ChatKitTestClient.in_process(chatkit_server, ...)`.
- `chatkit_snapshot`: `chatkit_snapshot(turn)` compares the turn's events, normalized (see
  `chatkit.testing.normalized`), with `__snapshots__/<module>/<test>.json` beside the test file;
  `--chatkit-update-snapshots` writes them instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from chatkit.server import ChatKitServer
    from chatkit.store import Store
    from chatkit.testing import ChatKitTestClient

TEST_USER = "test-user"
"""The user of the `chatkit_client` fixture's context."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """The plugin's command-line options."""
    group = parser.getgroup("chatkit")
    group.addoption(
        "--chatkit-store",
        default=None,
        help="store of the chatkit_store fixture: memory (default), sqlite, or a postgresql:// URL",
    )
    group.addoption(
        "--chatkit-server",
        default=None,
        help="MODULE:ATTR of the chatkit_server fixture: a ChatKitServer, or a factory taking the store",
    )
    parser.addini("chatkit_server", "MODULE:ATTR of the chatkit_server fixture (as --chatkit-server)", default="")
    parser.addini("chatkit_context", "MODULE:ATTR building chatkit_client's context from a user id", default="")
    group.addoption(
        "--chatkit-update-snapshots",
        action="store_true",
        default=False,
        help="write the chatkit_snapshot files instead of comparing with them",
    )


@pytest.fixture
def chatkit_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store[Any]]:
    """A fresh store for one test (see the module docstring for the choice of backend)."""
    choice = request.config.getoption("--chatkit-store") or os.environ.get("CHATKIT_TEST_STORE") or "memory"
    if choice == "memory":
        from chatkit.stores import MemoryStore

        yield MemoryStore()
    elif choice == "sqlite":
        from chatkit.stores import SQLiteStore

        store = SQLiteStore(tmp_path / "chatkit.db")
        yield store
        asyncio.run(store.aclose())
    elif choice.startswith(("postgresql://", "postgres://")):
        yield from _postgres_store(choice)
    else:
        raise pytest.UsageError(f"--chatkit-store must be memory, sqlite or a postgresql:// URL, not {choice!r}")


def _postgres_store(dsn: str) -> Iterator[Store[Any]]:
    """A `PostgresStore` in a throw-away schema; the test should close it (`async with store:`) if it opened it."""
    import psycopg

    from chatkit.stores import PostgresStore

    schema = f"chatkit_test_{uuid.uuid4().hex[:12]}"
    yield PostgresStore(dsn, schema=schema)
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())


@pytest.fixture
def chatkit_server(request: pytest.FixtureRequest, chatkit_store: Store[Any]) -> ChatKitServer[Any]:
    """The server `--chatkit-server` (or the `chatkit_server` ini option) names, on `chatkit_store`."""
    import inspect

    from chatkit._targets import UsageError, load_target, resolve_server
    from chatkit.server import ChatKitServer

    target = request.config.getoption("--chatkit-server") or request.config.getini("chatkit_server")
    if not target:
        raise pytest.UsageError(
            "chatkit_server needs your server: set `chatkit_server = myapp.server:make_server` in the pytest "
            "configuration, pass --chatkit-server, or override the chatkit_server fixture"
        )
    try:
        loaded = load_target(str(target))
        takes_store = False
        if callable(loaded) and not isinstance(loaded, ChatKitServer):
            try:
                inspect.signature(loaded).bind(chatkit_store)
                takes_store = True
            except (TypeError, ValueError):
                takes_store = False
        return resolve_server(loaded, chatkit_store if takes_store else None)
    except UsageError as error:
        raise pytest.UsageError(f"chatkit_server {target}: {error}") from error


@pytest.fixture
def chatkit_client(request: pytest.FixtureRequest, chatkit_server: ChatKitServer[Any]) -> ChatKitTestClient:
    """A client of `chatkit_server`, in process, as the user `test-user`."""
    from chatkit._targets import UsageError, load_target
    from chatkit.testing import ChatKitTestClient

    target = str(request.config.getini("chatkit_context"))
    context: Any = {"user_id": TEST_USER}
    if target:
        try:
            context = load_target(target)(TEST_USER)
        except UsageError as error:
            raise pytest.UsageError(f"chatkit_context {target}: {error}") from error
    return ChatKitTestClient.in_process(chatkit_server, context)


@pytest.fixture
def chatkit_snapshot(request: pytest.FixtureRequest) -> Callable[..., None]:
    """`chatkit_snapshot(events, name=None)`: compare normalized events with the test's snapshot file."""
    update = bool(request.config.getoption("--chatkit-update-snapshots"))
    folder = request.path.parent / "__snapshots__" / request.path.stem
    uses = 0

    def check(events: Any, name: str | None = None) -> None:
        nonlocal uses
        uses += 1
        stem = name or (request.node.name if uses == 1 else f"{request.node.name}-{uses}")
        path = folder / f"{stem}.json"
        from chatkit.testing import normalized

        actual = normalized(events)
        if update or not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(actual, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            if not update:
                pytest.fail(f"no snapshot yet: wrote {path}; check it, commit it, and run again")
            return
        expected = json.loads(path.read_text(encoding="utf-8"))
        assert actual == expected, f"the events differ from {path} (--chatkit-update-snapshots rewrites it)"

    return check
