"""The `chatkit retention`, `chatkit export` and `chatkit erase` commands: `chatkit.data` on the command line.

Each names its data as `chatkit serve` does, by `MODULE:ATTR` (a server, or a factory taking the
`--store` store): the server's store and attachment store, so files go with their rows. A store
URL alone (`sqlite:///chat.db`, `postgresql://…`) reaches the rows only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from chatkit._targets import UnreachableError, UsageError, check_store, load_target, resolve_server, store_argument
from chatkit.data._export import export_tenant
from chatkit.data._removal import erase_tenant, remove_idle
from chatkit.store import AttachmentStore, Store
from chatkit.stores import ScopedStore, StoreError

COMMANDS = ("retention", "export", "erase")


@dataclass
class _Data:
    """The store and attachment store a command line names."""

    store: ScopedStore
    attachment_store: AttachmentStore[Any] | None


def add_commands(commands: Any, environ: Mapping[str, str]) -> None:
    """Add the data commands to the `chatkit` command line's subcommands."""
    retention = commands.add_parser(
        "retention",
        help="delete threads nobody wrote to for N days, with their attachments and files",
        description="Delete every thread not written to (by its owner or the assistant) for --days days, "
        "with its items, attachment records and files, and uploads that never reached a thread as old; "
        "in short batches, so it may run beside live traffic. `chatkit serve --retain-days N` runs the "
        "same sweep every hour.",
    )
    _add_target(retention, environ)
    retention.add_argument("--days", type=float, required=True, metavar="N", help="idle days before deletion")
    retention.add_argument("--batch-size", type=int, default=500, metavar="N", help="threads per transaction")

    export = commands.add_parser(
        "export",
        help="write everything one user owns to a folder: JSON Lines in the wire format, plus the files",
        description="Export one user's threads, items, attachment records and files into DIR (new or empty), "
        "readable without chatkit: threads.jsonl, items.jsonl, attachments.jsonl, files/, manifest.json.",
    )
    _add_target(export, environ)
    export.add_argument("--user", required=True, help="the user whose data to export (the context's user_id)")
    export.add_argument("--to", required=True, metavar="DIR", help="folder to write (created; must be empty)")

    erase = commands.add_parser(
        "erase",
        help="delete everything one user owns: threads, items, attachments and files",
        description="Erase one user: every thread, item and attachment record, and every file the attachment "
        "store keeps for them, uploads never sent included. Prints what was removed.",
    )
    _add_target(erase, environ)
    erase.add_argument("--user", required=True, help="the user to erase (the context's user_id)")
    erase.add_argument("--yes", action="store_true", help="confirm: erasure cannot be undone")


def _add_target(parser: argparse.ArgumentParser, environ: Mapping[str, str]) -> None:
    parser.add_argument(
        "target",
        metavar="MODULE:ATTR|URL",
        help="the server (or factory) whose store and attachment store hold the data, or a store URL (rows only)",
    )
    parser.add_argument(
        "--store",
        metavar="URL",
        default=environ.get("CHATKIT_STORE") or environ.get("DATABASE_URL"),
        help="store URL given to a factory MODULE:ATTR, as for chatkit serve [env: CHATKIT_STORE, DATABASE_URL]",
    )


def run(args: argparse.Namespace) -> int:
    """Carry out the data command `args` names; its exit status."""
    if args.command == "erase" and not args.yes:
        raise UsageError(f"erase deletes everything user {args.user!r} owns and cannot be undone; add --yes")
    if args.command == "retention" and (args.days < 0 or args.batch_size < 1):
        raise UsageError("--days must be zero or more and --batch-size 1 or more")
    data = _resolve(args.target, args.store)
    report = asyncio.run(_run(args, data))
    print(json.dumps(report))
    return 0


@runtime_checkable
class _Closable(Protocol):
    async def aclose(self) -> None: ...


async def _run(args: argparse.Namespace, data: _Data) -> dict[str, Any]:
    files = data.attachment_store
    context = {"user_id": getattr(args, "user", None)}
    async with AsyncExitStack() as stack:
        try:
            await data.store.open()
        except StoreError as error:
            lines = str(error).strip().splitlines()
            raise UnreachableError(f"cannot open the store: {lines[0] if lines else type(error).__name__}") from error
        stack.push_async_callback(data.store.aclose)
        if isinstance(files, _Closable):
            # An attachment store holding connections (PostgreSQL, an S3 client) lets them go at the end.
            stack.push_async_callback(files.aclose)
        if args.command == "retention":
            report = await remove_idle(data.store, args.days, attachment_store=files, batch_size=args.batch_size)
            return report.as_dict()
        if args.command == "export":
            try:
                exported = await export_tenant(data.store, context, args.to, attachment_store=files)
            except FileExistsError as error:
                raise UsageError(f"--to: {error}") from error
            return {**exported.as_dict(), "directory": args.to}
        erased = await erase_tenant(data.store, context, attachment_store=files)
        return erased.as_dict()


def _resolve(target: str, store_url: str | None) -> _Data:
    # A dead database is one line and exit 3, at once, naming where its URL was given.
    for url, label in ((target, "store"), (store_url, "--store")):
        if url and "://" in url:
            check_store(url, label)
    if "://" in target:
        store: Store[Any] = store_argument(target)
        files = None
        print(
            "chatkit: note: a store URL reaches rows only; name your server (MODULE:ATTR) to include files",
            file=sys.stderr,
        )
    else:
        server = resolve_server(load_target(target), store_argument(store_url) if store_url else None)
        store, files = server.store, server.attachment_store
    if not isinstance(store, ScopedStore):
        raise UsageError(f"the data commands work on the stores of chatkit.stores, not a {type(store).__name__}")
    return _Data(store, files)
