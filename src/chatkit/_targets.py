"""What a command line names: `MODULE:ATTR` targets, the servers and store URLs they stand for, and
the one-line errors (`UsageError`, exit status 2; `UnreachableError`, 3) the `chatkit` commands report.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import logging
import os
import sys
import sysconfig
import traceback
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chatkit.server import ChatKitServer
    from chatkit.store import Store

EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
STORE_CONNECT_TIMEOUT = 5
"""How long a command waits for PostgreSQL to answer before saying it timed out."""


class UsageError(Exception):
    """A command line that cannot be carried out; reported as one line and exit status 2."""

    status = EXIT_USAGE


class UnreachableError(UsageError):
    """A service the command line names does not answer; reported as one line and exit status 3."""

    status = EXIT_UNREACHABLE


def load_target(target: str) -> Any:
    """Import `MODULE:ATTR` (ATTR may be dotted), looking in the current directory first, as uvicorn does."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise UsageError(f"expected MODULE:ATTR, e.g. myapp.server:server, not {target!r}")
    cwd = os.getcwd()
    if cwd not in sys.path:
        sys.path.insert(0, cwd)
    try:
        value: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and module_name.startswith(error.name):
            raise UsageError(f"cannot import module {module_name!r}: {error}") from error
        raise user_code_failure(f"importing {module_name!r}", error) from error
    except Exception as error:
        raise user_code_failure(f"importing {module_name!r}", error) from error
    for name in attribute.split("."):
        try:
            value = getattr(value, name)
        except AttributeError:
            raise UsageError(f"module {module_name!r} has no attribute {attribute!r}") from None
    return value


def resolve_server(value: Any, store: Store[Any] | None = None) -> ChatKitServer[Any]:
    """The server a target names: the instance itself, or what the factory returns (given `store` if set)."""
    from chatkit.server import ChatKitServer

    if isinstance(value, ChatKitServer):
        if store is not None:
            raise UsageError("--store needs a factory (a callable taking the store), not a ready server instance")
        return value  # pyright: ignore[reportUnknownVariableType]
    if not callable(value):
        raise UsageError(f"the target is {_kind(value)}, not a ChatKitServer or a factory returning one")
    arguments = () if store is None else (store,)
    _check_factory_arguments(value, arguments)
    try:
        server = value(*arguments)
    except Exception as error:
        raise user_code_failure("the factory", error) from error
    if inspect.isawaitable(server):
        if inspect.iscoroutine(server):
            server.close()
        raise UsageError("the factory must return a ChatKitServer, not an awaitable (use a plain function)")
    if not isinstance(server, ChatKitServer):
        raise UsageError(f"the factory returned {_kind(server)}, not a ChatKitServer")
    return server  # pyright: ignore[reportUnknownVariableType]


def _check_factory_arguments(factory: Any, arguments: tuple[Any, ...]) -> None:
    """Refuse a factory that cannot take what `chatkit serve` passes: nothing, or the `--store` store."""
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return  # a builtin or C callable: calling it is the only test
    try:
        signature.bind(*arguments)
    except TypeError:
        described = (
            f"{getattr(factory, '__qualname__', 'factory')}{signature.replace(return_annotation=signature.empty)}"
        )
        if arguments:
            raise UsageError(f"the factory {described} cannot take the --store store as its one argument") from None
        raise UsageError(f"the factory {described} needs arguments; give it a store with --store") from None


def user_code_failure(action: str, error: BaseException) -> UsageError:
    """One line for an exception the user's code raised: what failed, why, and where in their files."""
    location = _user_location(error)
    where = f" ({location})" if location else ""
    return UsageError(f"{action} failed: {type(error).__name__}: {error}{where}")


def _user_location(error: BaseException) -> str | None:
    """`file:line` of the innermost frame outside the standard library, installed packages and chatkit."""
    if isinstance(error, SyntaxError) and error.filename:
        return f"{error.filename}:{error.lineno}"
    outside = tuple({sysconfig.get_paths()[name] for name in ("stdlib", "platstdlib", "purelib", "platlib")})
    package = os.path.dirname(os.path.abspath(__file__))
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if not frame.filename.startswith(("<", package, *outside))
    ]
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else None


def _kind(value: object) -> str:
    """`a str`, `an int`: the type of `value` with its article."""
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def store_argument(url: str) -> Store[Any]:
    """The store a `--store` URL names; `UsageError` for a URL no store understands."""
    from chatkit.stores import store_from_url

    try:
        return store_from_url(url)
    except ValueError as error:
        raise UsageError(f"--store: {error}") from error


def check_store(url: str, label: str = "--store") -> None:
    """Raise `UsageError` (bad URL) or `UnreachableError` (no answer) unless the store at `url` opens now.

    `label` names where the URL was given (an option, an argument) at the start of the message.
    """
    from chatkit.stores import PostgresStore, SQLiteStore

    store = store_argument(url)
    logging.getLogger(__name__).debug("checking the store at %s", url)
    if isinstance(store, PostgresStore):
        asyncio.run(check_postgres(url, label))
    elif isinstance(store, SQLiteStore):
        path = str(store.path)
        folder = os.path.dirname(os.path.abspath(path))
        if path != ":memory:" and not os.path.isdir(folder):
            raise UsageError(f"{label}: the directory {folder} does not exist")
        asyncio.run(_check_sqlite(store, path, label))


async def _check_sqlite(store: Any, path: str, label: str) -> None:
    try:
        await store.open()
    except Exception as error:
        raise UsageError(f"{label}: cannot open the SQLite database {path}: {error}") from error
    await store.aclose()


async def check_postgres(url: str, label: str = "--store") -> None:
    """Connect once, briefly (no pool and its retries): one line saying why PostgreSQL at `url` cannot be used."""
    import psycopg

    try:
        connection = await psycopg.AsyncConnection.connect(url, connect_timeout=STORE_CONNECT_TIMEOUT)
    except psycopg.OperationalError as error:
        raise _postgres_failure(url, error, label) from error
    await connection.close()


def _postgres_failure(url: str, error: Exception, label: str) -> UsageError:
    """One line saying what went wrong, in the words of the person who typed the URL, from libpq's text."""
    text = str(error).lower()
    where = f"{label}: PostgreSQL at {_without_password(url)}"
    if "connection refused" in text:
        return UnreachableError(f"{where} refused the connection (is PostgreSQL running there?)")
    if "timeout expired" in text or "timed out" in text:
        return UnreachableError(f"{where} did not answer within {STORE_CONNECT_TIMEOUT} s")
    if "failed to resolve host" in text or "could not translate host name" in text:
        return UnreachableError(f"{where}: unknown host")
    if 'database "' in text and "does not exist" in text:
        return UsageError(f"{where}: the database does not exist")
    if "password authentication failed" in text or 'role "' in text or "pg_hba.conf" in text:
        return UsageError(f"{where}: authentication failed")
    lines = str(error).strip().splitlines()
    return UnreachableError(f"{where}: cannot connect: {lines[0] if lines else type(error).__name__}")


def _without_password(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
