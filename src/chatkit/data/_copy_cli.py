"""`chatkit copy FROM TO`: the command line of `copy_store`.

`add_copy_command` adds the subcommand to the `chatkit` parser and `run_copy` carries it out;
`main` runs the subcommand on its own (`python -m chatkit.data._copy_cli copy FROM TO`).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import re
import sys
from collections.abc import Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from chatkit._targets import UnreachableError, UsageError, check_postgres, load_target, user_code_failure
from chatkit.data._copy import CopyProgress, CopyReport, FileImporter, copy_store
from chatkit.store import AttachmentStore, Store
from chatkit.stores._base import ScopedStore

# `MODULE:ATTR`, as `chatkit serve` takes its target; a path or a URL never looks like this.
_TARGET = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
# The most differences the summary lists one by one; the count says how many there were in all.
_SHOWN_MISMATCHES = 20
_KINDS = ("threads", "items", "attachments", "files")

DESCRIPTION = """Copy every thread, item and attachment (records and, with --from-files and --to-files,
their bytes) from one store into another, then read both back and compare them. Run it again to
resume an interrupted copy or to catch up with what was written since: nothing is copied twice."""


def add_copy_command(commands: argparse._SubParsersAction[Any]) -> None:  # pyright: ignore[reportPrivateUsage]
    """Add `copy FROM TO` to the `chatkit` command's subcommands."""
    parser = commands.add_parser(
        "copy", help="copy a store's data into another store and verify it", description=DESCRIPTION
    )
    parser.add_argument(
        "source",
        metavar="FROM",
        help="the store to copy: memory://, sqlite:///path.db, postgresql://…, or MODULE:ATTR naming a Store "
        "(or a function returning one) of your own",
    )
    parser.add_argument("target", metavar="TO", help="the store to copy into: sqlite:///path.db or postgresql://…")
    parser.add_argument(
        "--from-files",
        metavar="SPEC",
        help="where the source's attachment files are: a directory (or file:///path), postgresql://…, "
        "s3://bucket/prefix (endpoint from AWS_ENDPOINT_URL), or MODULE:ATTR naming an attachment store",
    )
    parser.add_argument("--to-files", metavar="SPEC", help="where to put the files: as --from-files")
    parser.add_argument(
        "--user",
        metavar="USER",
        action="append",
        dest="user_ids",
        help="copy this user's data (repeatable); by default every user the source holds",
    )
    parser.add_argument(
        "--users",
        metavar="MODULE:ATTR",
        help="a function returning the request contexts to copy, for a store of your own that cannot list them",
    )
    parser.add_argument(
        "--pause", metavar="SECONDS", type=float, default=0.0, help="wait this long after each thread (default: 0)"
    )
    parser.add_argument("--no-verify", action="store_true", help="skip reading both sides back to compare them")


def run_copy(args: argparse.Namespace) -> int:
    """Carry out `chatkit copy`: 0 when the copy verified, 1 when it did not; `UsageError` for bad input."""
    plan = _Plan.parse(args)
    try:
        return asyncio.run(plan.run(sys.stdout, sys.stderr))
    except KeyboardInterrupt:
        # Stopping a long copy is ordinary: say how to go on rather than print a traceback.
        print("\nchatkit copy: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


@dataclass
class _Plan:
    """A checked command line: what to copy, from where, into what."""

    source: str
    target: str
    from_files: str | None
    to_files: str | None
    user_ids: list[str] | None
    users: str | None
    pause: float
    verify: bool

    @classmethod
    def parse(cls, args: argparse.Namespace) -> _Plan:
        """The plan of `args`, or `UsageError` for what cannot be carried out, before anything is opened."""
        plan = cls(
            args.source,
            args.target,
            args.from_files,
            args.to_files,
            args.user_ids,
            args.users,
            args.pause,
            verify=not args.no_verify,
        )
        if (plan.from_files is None) != (plan.to_files is None):
            raise UsageError("give both --from-files and --to-files, or neither (then no file is copied)")
        if plan.user_ids is not None and plan.users is not None:
            raise UsageError("give --user or --users, not both")
        if plan.pause < 0:
            raise UsageError(f"--pause must be seconds, zero or more, not {plan.pause:g}")
        if _TARGET.fullmatch(plan.target):
            raise UsageError("TO must be a store URL (sqlite:///path.db or postgresql://…), not MODULE:ATTR")
        return plan

    async def run(self, out: TextIO, err: TextIO) -> int:
        """Open everything, copy, print the summary; 0 if verified (or not asked to be), else 1."""
        async with AsyncExitStack() as stack:
            # Everything that can be refused is, before the target is created.
            source = await _source(self.source, stack)
            contexts = await self._contexts(source)
            source_files = _files("--from-files", self.from_files, stack, must_exist=True)
            target_files = _files("--to-files", self.to_files, stack, must_exist=False)
            if target_files is not None and not isinstance(target_files, FileImporter):
                raise UsageError(f"--to-files: {type(target_files).__name__} cannot take copied files (no import_file)")
            target = _store("TO", self.target, must_exist=False)
            stack.push_async_callback(target.aclose)
            await _open("TO", self.target, target)
            meter = _Meter(err)
            report = await copy_store(
                source,
                target,
                contexts=contexts,
                source_files=source_files,
                target_files=target_files,
                progress=meter.show if meter.enabled else None,
                pause=self.pause,
                verify=self.verify,
            )
            meter.finish()
        _summarize(report, copied_files=source_files is not None, out=out)
        return 0 if report.matched or not self.verify else 1

    async def _contexts(self, source: Store[Any]) -> list[Any] | None:
        """The contexts to copy, or None for every tenant of a store of ours."""
        if self.user_ids is not None:
            return [{"user_id": user_id} for user_id in self.user_ids]
        if self.users is not None:
            return await _load_contexts(self.users)
        if not isinstance(source, ScopedStore):
            raise UsageError(
                f"{self.source} cannot list its users: name them with --user USER (repeatable) "
                "or --users MODULE:ATTR (a function returning the request contexts)"
            )
        return None


async def _source(spec: str, stack: AsyncExitStack) -> Store[Any]:
    """The store FROM names: one of ours from a URL, or a `Store` of your own from `MODULE:ATTR`."""
    if not _TARGET.fullmatch(spec):
        store = _store("FROM", spec, must_exist=True)
        stack.push_async_callback(store.aclose)
        await _open("FROM", spec, store)
        return store
    value = load_target(spec)
    if not isinstance(value, Store) and callable(value):
        value = await _called(f"FROM {spec}", value)
    if not isinstance(value, Store):
        raise UsageError(f"FROM {spec} is a {type(value).__name__}, not a Store or a function returning one")
    store: Store[Any] = value  # pyright: ignore[reportUnknownVariableType]
    if isinstance(store, ScopedStore):
        stack.push_async_callback(store.aclose)
    return store


def _store(label: str, url: str, *, must_exist: bool) -> ScopedStore:
    """An unopened store of ours for `url`; `UsageError` for a URL it cannot be, or a missing file."""
    from chatkit.stores import SQLiteStore, store_from_url

    try:
        store = store_from_url(url)
    except ValueError as error:
        raise UsageError(f"{label}: {error}") from error
    if isinstance(store, SQLiteStore) and str(store.path) != ":memory:":
        path = Path(store.path)
        if must_exist and not path.is_file():
            raise UsageError(f"{label}: there is no SQLite database at {path}")
        if not path.parent.is_dir():
            raise UsageError(f"{label}: the directory {path.parent} does not exist")
    return store


async def _open(label: str, url: str, store: ScopedStore) -> None:
    """Open a store, or `UnreachableError` in one line; PostgreSQL is asked first, briefly, so no pool retries."""
    from chatkit.stores import PostgresStore

    if isinstance(store, PostgresStore):
        await check_postgres(url, label)
    try:
        await store.open()
    except Exception as error:
        lines = str(error).strip().splitlines()
        reason = lines[0] if lines else type(error).__name__
        raise UnreachableError(f"{label}: cannot open the store: {reason}") from error


def _files(option: str, spec: str | None, stack: AsyncExitStack, *, must_exist: bool) -> AttachmentStore[Any] | None:
    """The attachment store a file spec names, closed with `stack`; None without a spec."""
    if spec is None:
        return None
    if _TARGET.fullmatch(spec):
        value = load_target(spec)
        if not isinstance(value, AttachmentStore) and callable(value):
            value = value()
        if not isinstance(value, AttachmentStore):
            raise UsageError(f"{option} {spec} is a {type(value).__name__}, not an attachment store")
        return value  # pyright: ignore[reportUnknownVariableType]
    scheme, separator, rest = spec.partition("://")
    scheme = scheme.lower()
    if not separator or scheme == "file":
        return _local_files(option, rest if separator else spec, must_exist=must_exist)
    if scheme in ("postgresql", "postgres"):
        from chatkit.attachments._postgres import PostgresAttachmentStore

        in_database = PostgresAttachmentStore[Any](spec)
        stack.push_async_callback(in_database.aclose)
        return in_database
    if scheme == "s3":
        from chatkit.attachments._s3 import S3AttachmentStore

        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise UsageError(f"{option}: {spec!r} names no bucket; expected s3://bucket/prefix")
        endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
        if prefix:
            in_bucket = S3AttachmentStore[Any](bucket, prefix=prefix.rstrip("/") + "/", endpoint_url=endpoint)
        else:
            in_bucket = S3AttachmentStore[Any](bucket, endpoint_url=endpoint)
        stack.push_async_callback(in_bucket.aclose)
        return in_bucket
    raise UsageError(f"{option}: unknown scheme {scheme!r}; expected a directory, postgresql://… or s3://bucket")


def _local_files(option: str, path: str, *, must_exist: bool) -> AttachmentStore[Any]:
    from chatkit.attachments import LocalAttachmentStore

    folder = Path(path)
    if must_exist and not folder.is_dir():
        raise UsageError(f"{option}: there is no directory {folder}")
    return LocalAttachmentStore(folder)


async def _load_contexts(target: str) -> list[Any]:
    """The contexts the function `--users` names returns (awaited if need be)."""
    function = load_target(target)
    if not callable(function):
        raise UsageError(f"--users {target} is a {type(function).__name__}, not a function returning contexts")
    contexts = await _called(f"--users {target}", function)
    if isinstance(contexts, (str, bytes)) or not isinstance(contexts, Iterable):
        raise UsageError(f"--users {target} returned a {type(contexts).__name__}, not a list of contexts")
    return list(contexts)  # pyright: ignore[reportUnknownArgumentType]


async def _called(what: str, function: Any) -> Any:
    """What a factory of the user's returns, awaited if it is a coroutine function."""
    try:
        value = function()
        return await value if inspect.isawaitable(value) else value
    except Exception as error:
        raise user_code_failure(what, error) from error


class _Meter:
    """One progress line on a terminal's stderr, rewritten as threads are done; nothing elsewhere."""

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self.enabled = err.isatty()
        self.shown = False

    def show(self, progress: CopyProgress) -> None:
        """Rewrite the line with the thread count so far."""
        self.err.write(f"\rcopying: {progress.threads_done}/{progress.threads_total} threads ({progress.tenant})\x1b[K")
        self.err.flush()
        self.shown = True

    def finish(self) -> None:
        """End the line, so what follows starts on a fresh one."""
        if self.shown:
            self.err.write("\n")
            self.err.flush()


def _summarize(report: CopyReport, *, copied_files: bool, out: TextIO) -> None:
    """The counts of the copy, then the verification's verdict and its first differences."""
    print(f"copied {report.tenants} tenant(s):", file=out)
    for kind in _KINDS:
        if kind == "files" and not copied_files:
            print("  files: not copied (no --from-files and --to-files)", file=out)
            continue
        tally = getattr(report, kind)
        print(f"  {kind}: {tally.copied} copied, {tally.skipped} already there, {tally.updated} updated", file=out)
    print(f"  bytes: {report.bytes}", file=out)
    if not report.verified:
        print("not verified (--no-verify)", file=out)
        return
    if report.matched:
        listed = ", ".join(f"{sum(getattr(check.target, kind) for check in report.checked)} {kind}" for kind in _KINDS)
        print(f"verified: {len(report.checked)} tenant(s) with {listed}, the same on both sides", file=out)
        return
    print(f"verification FAILED: {len(report.mismatches)} difference(s)", file=out)
    for line in report.mismatches[:_SHOWN_MISMATCHES]:
        print(f"  {line}", file=out)
    if len(report.mismatches) > _SHOWN_MISMATCHES:
        print(f"  … and {len(report.mismatches) - _SHOWN_MISMATCHES} more", file=out)
