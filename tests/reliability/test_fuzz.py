"""Fuzzing `ChatKitServer.process` and the HTTP endpoint: over 5,000 requests per run.

Schema-generated, valid, cross-tenant and mutated requests (see `fuzzing.py`) go to the server
on SQLite and PostgreSQL, to the ASGI app in-process and to a uvicorn server over real HTTP. Every
refusal must be clean and leave every row and file as it was. `make fuzz` runs the same with a
budget of 100,000 (`scripts/reliability/fuzz.py`).
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatkit.asgi import create_app
from chatkit.server import NonStreamingResult, StreamingResult
from chatkit.stores import ScopedStore
from tests.http import serving
from tests.reliability.fuzz_run import MAX_BODY_BYTES, files_of, fuzz_asgi, fuzz_process, probed
from tests.reliability.fuzzing import Case, FuzzReport, HTTPTarget, Probe, ProcessTarget, fuzz_in_rounds, run_fuzz
from tests.reliability.scripted import CannedServer
from tests.reliability.serving import user_context
from tests.reliability.world import seed_tenant
from tests.stores.backends import make_store


@asynccontextmanager
async def fuzz_world(backend: str, tmp_path: Path) -> AsyncIterator[tuple[CannedServer, Probe]]:
    """The canned server on an open store of `backend` (a private schema on PostgreSQL), probed."""
    async with make_store(backend, tmp_path) as store, probed(store, tmp_path) as world:
        yield world


def assert_clean(report: FuzzReport, requests: int) -> None:
    """The run sent its budget, exercised both outcomes and broke no invariant."""
    print(report.summary())
    assert report.sent == requests
    assert report.accepted > requests // 10 and report.refused > requests // 10, report.summary()
    assert not report.failures, "\n".join(report.failures[:20])


@pytest.mark.parametrize(("backend", "requests"), [("sqlite", 2000), ("postgres", 800)])
async def test_process_fuzz(backend: str, requests: int, tmp_path: Path) -> None:
    report = FuzzReport()
    async with fuzz_world(backend, tmp_path) as (server, probe):
        await fuzz_process(server, probe, requests, seed=6, report=report)
    assert_clean(report, requests)


async def test_asgi_fuzz(tmp_path: Path) -> None:
    report = FuzzReport()
    async with fuzz_world("sqlite", tmp_path) as (server, probe):
        await fuzz_asgi(server, probe, 2000, seed=7, report=report)
    assert_clean(report, 2000)


async def test_real_http_fuzz(tmp_path: Path) -> None:
    async with fuzz_world("sqlite", tmp_path) as (server, probe):
        files = files_of(server)
        app = create_app(server, context=user_context, attachment_store=files, max_body_bytes=MAX_BODY_BYTES)
        async with serving(app) as url, httpx.AsyncClient(timeout=30) as client:
            report = await fuzz_in_rounds(HTTPTarget(client, f"{url}/chatkit"), probe, server, files, total=400, seed=8)
    assert_clean(report, 400)


async def test_http_envelope_abuse(tmp_path: Path) -> None:
    """What is wrong around the body: no user, wrong method, oversize, lying or bad Content-Length."""
    async with fuzz_world("sqlite", tmp_path) as (server, probe):
        app = create_app(server, context=user_context, max_body_bytes=1024)
        tenants = [await seed_tenant(server, files_of(server), user) for user in ("alice", "bob")]
        before = await probe.snapshot()
        valid = json.dumps(tenants[0].templates()[1]).encode()
        async with serving(app) as url, httpx.AsyncClient(timeout=10) as client:
            endpoint = f"{url}/chatkit"
            answers = [
                await client.post(endpoint, content=valid),
                await client.post(endpoint, content=valid, headers={"x-user": ""}),
                await client.get(endpoint, headers={"x-user": "alice"}),
                await client.put(endpoint, content=valid, headers={"x-user": "alice"}),
                await client.post(endpoint, content=b"x" * 5000, headers={"x-user": "alice"}),
                await client.post(endpoint, content=_chunks(valid + b" " * 5000), headers={"x-user": "alice"}),
                await client.post(endpoint, content=b"\xff\xfe\x00", headers={"x-user": "alice"}),
            ]
        statuses = [answer.status_code for answer in answers]
        assert statuses == [401, 401, 405, 405, 413, 413, 400], statuses
        for answer in answers:
            if answer.headers.get("content-type") == "application/json":
                assert isinstance(answer.json()["error"]["code"], str)
        assert await probe.snapshot() == before


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    """A body sent without Content-Length, in pieces."""
    for start in range(0, len(body), 512):
        yield body[start : start + 512]


async def test_the_fuzzer_sees_a_refusal_that_writes(tmp_path: Path) -> None:
    """The checks can fail: a server that saves a thread before refusing is caught at once."""

    class LeakyServer(CannedServer):
        async def process(self, request: str | bytes | bytearray, context: Any) -> StreamingResult | NonStreamingResult:
            assert isinstance(self.store, ScopedStore)
            await self.store.save_thread(
                (await self.store.load_threads(1, None, "asc", context)).data[0].model_copy(update={"id": "leak"}),
                context,
            )
            raise ValueError("refused, but only after writing")

    async with fuzz_world("sqlite", tmp_path) as (server, probe):
        files = files_of(server)
        leaky = LeakyServer(server.store, files)
        tenants = [await seed_tenant(server, files, user) for user in ("alice", "bob")]
        report = FuzzReport()
        case = Case("valid", json.dumps(tenants[0].templates()[7]).encode(), "alice")
        await run_fuzz(ProcessTarget(leaky), probe.snapshot, iter([case]), report, tenants)
    assert len(report.failures) == 1 and "refused (ValueError) but changed ['alice']" in report.failures[0]


def test_generated_requests_cover_every_type() -> None:
    """The schema walker reaches all sixteen request types."""
    from tests.reliability.generate import SchemaWalker

    walker = SchemaWalker(random.Random(1), lambda key: ["thr_1"])
    # The schema does not require `type` (the server does), so some documents lack it.
    kinds = {walker.request().get("type") for _ in range(500)}
    assert len(kinds - {None}) == 16
