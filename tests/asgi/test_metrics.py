"""`GET /metrics`: Prometheus counters of requests and turns, with label values from closed sets only."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatkit.asgi import create_app
from chatkit.stores import MemoryStore, PostgresStore
from tests.asgi.conftest import user_context
from tests.asgi.scripted import ScriptedServer
from tests.http import metric_sample as sample
from tests.http import parse_events, serving, user_message
from tests.stores.backends import drop_postgres_schema, postgres_schema, require_postgres

ALICE = {"x-user": "alice"}


async def test_requests_and_turns_are_counted_without_ids_in_any_label() -> None:
    app = create_app(ScriptedServer(MemoryStore()), context=user_context)
    async with serving(app) as url, httpx.AsyncClient(base_url=url, headers=ALICE) as client:
        turn = await client.post("/chatkit", json=user_message("hello"))
        thread_id = parse_events(turn.content)[0]["thread"]["id"]
        await client.post("/chatkit", json={"type": "threads.list", "params": {}})
        await client.post("/chatkit", json={"type": "threads.get_by_id", "params": {"thread_id": "thr_nope"}})
        await client.post("/chatkit", json={"type": "made.up", "params": {}})
        exposed = await client.get("/metrics")
    assert exposed.status_code == 200
    assert exposed.headers["content-type"].startswith("text/plain")
    text = exposed.text
    assert sample(text, 'chatkit_requests_total{status="200",type="threads.create"}') == 1
    assert sample(text, 'chatkit_requests_total{status="200",type="threads.list"}') == 1
    assert sample(text, 'chatkit_requests_total{status="404",type="threads.get_by_id"}') == 1
    # A type the protocol does not have is refused and counted as "other", never as itself.
    assert sample(text, 'chatkit_requests_total{status="400",type="other"}') == 1
    assert "made.up" not in text
    assert sample(text, 'chatkit_turns_total{outcome="completed"}') == 1
    assert sample(text, "chatkit_time_to_first_event_seconds_count") == 1
    assert sample(text, "chatkit_stream_events_total") == len(parse_events(turn.content))
    assert sample(text, "chatkit_stream_bytes_total") == len(turn.content)
    assert sample(text, "chatkit_turns_in_flight") == 0
    # The store's operations, by method: the ones this conversation made.
    assert sample(text, 'chatkit_store_operation_duration_seconds_count{method="load_threads"}') == 1
    assert sample(text, 'chatkit_store_operation_duration_seconds_count{method="add_thread_item"}') >= 2
    assert sample(text, "chatkit_draining") == 0
    assert thread_id not in text and "alice" not in text


async def test_metrics_can_be_turned_off() -> None:
    app = create_app(ScriptedServer(MemoryStore()), context=user_context, metrics_path=None)
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/metrics")).status_code == 404


@pytest.mark.service
async def test_postgresql_connections_are_gauged(tmp_path: Path) -> None:
    schema = postgres_schema(tmp_path)
    store = PostgresStore(require_postgres(), schema=schema, max_size=3)
    app = create_app(ScriptedServer(store), context=user_context)
    try:
        async with serving(app) as url, httpx.AsyncClient(base_url=url, headers=ALICE) as client:
            await client.post("/chatkit", json=user_message("hello"))
            text = (await client.get("/metrics")).text
        opened = sample(text, 'chatkit_database_connections{state="open"}')
        # Statements and turn locks of the one PostgresDatabase, within its stated bound.
        assert 1 <= opened <= store.database.max_connections
        assert 0 <= sample(text, 'chatkit_database_connections{state="in_use"}') <= opened
        assert sample(text, 'chatkit_database_connections{state="waiting"}') == 0
    finally:
        await store.aclose()
        await drop_postgres_schema(schema)


async def test_uploads_and_followers_are_counted(tmp_path: Path) -> None:
    import asyncio

    from chatkit.attachments import LocalAttachmentStore

    files: LocalAttachmentStore[Any] = LocalAttachmentStore(tmp_path / "files", secret="test-secret")
    app = create_app(ScriptedServer(MemoryStore(), files, words=30, delay=0.02), context=user_context)
    notes = b"minutes of the meeting\n" * 10
    async with serving(app) as url, httpx.AsyncClient(base_url=url, headers=ALICE) as client:
        announced = await client.post(
            "/chatkit",
            json={
                "type": "attachments.create",
                "params": {"name": "notes.txt", "size": len(notes), "mime_type": "text/plain"},
            },
        )
        descriptor = announced.json()["upload_descriptor"]
        assert (
            await client.put(descriptor["url"], content=notes, headers={"content-type": "text/plain"})
        ).status_code == 200
        direct = await client.post("/chatkit/upload", files={"file": ("a.txt", b"hello there\n", "text/plain")})
        refused = await client.post(
            "/chatkit/upload", files={"file": ("a.exe", b"MZ\x90\x00" + b"\x00" * 60, "application/x-msdownload")}
        )
        assert (direct.status_code, refused.status_code) == (200, 415)

        # A follower of a running turn is gauged while it follows.
        created = await client.post("/chatkit", json=user_message("hi"))
        thread_id = parse_events(created.content)[0]["thread"]["id"]
        running = asyncio.create_task(client.post("/chatkit", json=user_message("slow", thread_id)))
        await asyncio.sleep(0.2)
        async with client.stream("GET", f"/chatkit/threads/{thread_id}/stream") as following:
            assert following.status_code == 200
            during = (await client.get("/metrics")).text
            await following.aread()
        await running
        after = (await client.get("/metrics")).text
    assert sample(after, 'chatkit_uploads_total{status="200",strategy="two_phase"}') == 1
    assert sample(after, 'chatkit_uploads_total{status="200",strategy="direct"}') == 1
    assert sample(after, 'chatkit_uploads_total{status="415",strategy="direct"}') == 1
    assert sample(after, 'chatkit_upload_bytes_total{strategy="two_phase"}') == len(notes)
    assert sample(after, 'chatkit_upload_bytes_total{strategy="direct"}') == len(b"hello there\n")
    assert sample(during, "chatkit_followers") == 1
    assert sample(after, "chatkit_followers") == 0


WORKER = """
import asyncio, sys
from chatkit.asgi._metrics import Metrics
from chatkit.asgi._observe import AccessRecord

metrics = Metrics()
metrics.watch(lambda: int(sys.argv[2]), lambda: False)
for _ in range(int(sys.argv[1])):
    record = AccessRecord("r")
    record.request_type, record.status = "threads.list", 200
    metrics.request_done(record, 0.01)
if sys.argv[3] == "scrape":
    sent = []

    async def send(message):
        sent.append(message)

    asyncio.run(metrics.serve({}, None, send))
    print(sent[1]["body"].decode())
elif sys.argv[3] == "stay":
    input()  # stays alive (its gauges count) until the test closes its input
"""


def test_workers_sharing_a_metrics_folder_answer_for_all(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    environment = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    # Two workers: one lives on with 2 turns running, one counted its requests and died.
    alive = subprocess.Popen(
        [sys.executable, "-c", WORKER, "3", "2", "stay"], env=environment, stdin=subprocess.PIPE, text=True
    )
    try:
        subprocess.run([sys.executable, "-c", WORKER, "5", "7", "exit"], env=environment, check=True)
        from prometheus_client import multiprocess

        # What the supervisor does when a worker dies: its live gauges go, its counters stay.
        finished = [int(path.stem.rsplit("_", 1)[-1]) for path in tmp_path.glob("gauge_livesum_*.db")]
        for pid in finished:
            if pid != alive.pid:
                multiprocess.mark_process_dead(pid, str(tmp_path))  # pyright: ignore[reportUnknownMemberType]
        for _ in range(50):  # the live worker has written its figures
            if any(str(alive.pid) in path.name for path in tmp_path.glob("counter_*.db")):
                break
            time.sleep(0.05)
        scraped = subprocess.run(
            [sys.executable, "-c", WORKER, "1", "0", "scrape"],
            env=environment,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    finally:
        alive.communicate("\n", timeout=10)
    assert sample(scraped, 'chatkit_requests_total{status="200",type="threads.list"}') == 3 + 5 + 1
    # Live workers only: 2 turns in the one still running (the scraper runs none).
    assert sample(scraped, "chatkit_turns_in_flight") == 2
