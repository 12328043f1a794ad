"""Fuzzing set-ups shared by the suite and `make fuzz`: the canned server on a store, probed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg

from chatkit.asgi import create_app
from chatkit.attachments import LocalAttachmentStore
from chatkit.stores import PostgresStore, ScopedStore, SQLiteStore
from tests.reliability.fuzzing import FuzzReport, HTTPTarget, Probe, ProcessTarget, fuzz_in_rounds
from tests.reliability.scripted import CannedServer
from tests.reliability.serving import user_context
from tests.reliability.world import PostgresProbe, SQLiteProbe
from tests.stores.backends import POSTGRES_DSN, drop_postgres_schema

FILES_BASE_URL = "http://127.0.0.1/chatkit"
MAX_BODY_BYTES = 256 * 1024


@asynccontextmanager
async def probed(store: ScopedStore, workdir: Path) -> AsyncIterator[tuple[CannedServer, Probe]]:
    """The canned server on an open SQLite or PostgreSQL `store`, and a probe of its rows and files."""
    files = LocalAttachmentStore[Any](workdir / "files", secret="fuzz", base_url=FILES_BASE_URL, max_bytes=64 * 1024)
    server = CannedServer(store, files, pause=0)
    if isinstance(store, SQLiteStore):
        probe = SQLiteProbe(Path(store.path), files.root)
        try:
            yield server, probe
        finally:
            probe.close()
        return
    assert isinstance(store, PostgresStore)
    async with await psycopg.AsyncConnection.connect(POSTGRES_DSN, autocommit=True) as connection:
        yield server, PostgresProbe(connection, store.schema, files.root)


def files_of(server: CannedServer) -> LocalAttachmentStore[Any]:
    """The server's attachment store."""
    files = server.attachment_store
    assert isinstance(files, LocalAttachmentStore)
    return files


async def fuzz_process(server: CannedServer, probe: Probe, total: int, seed: int, report: FuzzReport) -> None:
    """`total` requests straight to `process`."""
    await fuzz_in_rounds(ProcessTarget(server), probe, server, files_of(server), total=total, seed=seed, report=report)


async def fuzz_asgi(server: CannedServer, probe: Probe, total: int, seed: int, report: FuzzReport) -> None:
    """`total` requests to the ASGI app, in-process."""
    app = create_app(server, context=user_context, attachment_store=files_of(server), max_body_bytes=MAX_BODY_BYTES)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), timeout=30) as client:
        target = HTTPTarget(client, FILES_BASE_URL)
        await fuzz_in_rounds(target, probe, server, files_of(server), total=total, seed=seed, report=report)


async def fuzz_everywhere(total: int, seed: int, workdir: Path, *, postgres: bool) -> FuzzReport:
    """`make fuzz`: 70% to `process` and 30% to the ASGI app on SQLite; with `postgres`, 10% moved to PostgreSQL."""
    report = FuzzReport()
    on_postgres = total // 10 if postgres else 0
    through_http = total * 3 // 10
    on_sqlite = total - through_http - on_postgres
    async with SQLiteStore(workdir / "fuzz.db") as store, probed(store, workdir) as (server, probe):
        await fuzz_process(server, probe, on_sqlite, seed, report)
        await fuzz_asgi(server, probe, through_http, seed + 1, report)
    if on_postgres:
        schema = f"chatkit_fuzz_{uuid.uuid4().hex[:12]}"
        try:
            async with PostgresStore(POSTGRES_DSN, schema=schema) as store, probed(store, workdir) as (server, probe):
                await fuzz_process(server, probe, on_postgres, seed + 2, report)
        finally:
            await drop_postgres_schema(schema)
    return report
