"""Attachments through `create_app` in two server processes on one PostgreSQL database."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx

from tests.http import parse_events, user_message
from tests.stores.backends import drop_postgres_schema, postgres_schema, require_postgres

from .test_contract import png, text

ROOT = Path(__file__).resolve().parents[2]
ALICE = {"x-user": "alice"}


@asynccontextmanager
async def two_processes(tmp_path: Path) -> AsyncIterator[list[str]]:
    """Two app processes on one PostgreSQL schema; yields their base URLs."""
    dsn = require_postgres()
    schema = postgres_schema(tmp_path)
    processes: list[asyncio.subprocess.Process] = []
    urls: list[str] = []
    try:
        for _ in range(2):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
            sock.listen(64)
            urls.append(f"http://127.0.0.1:{sock.getsockname()[1]}")
            processes.append(
                await asyncio.create_subprocess_exec(
                    *(sys.executable, "-m", "tests.attachments.pg_files_app", str(sock.fileno()), dsn, schema),
                    cwd=ROOT,
                    pass_fds=[sock.fileno()],
                    env={**os.environ, "PYTHONWARNINGS": "error"},
                )
            )
            sock.close()
        async with httpx.AsyncClient(timeout=30) as client:
            for url in urls:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        await client.post(f"{url}/chatkit", json={"type": "threads.list", "params": {}}, headers=ALICE)
                        break
                    except httpx.TransportError:
                        assert time.monotonic() < deadline, "server process did not start"
                        await asyncio.sleep(0.1)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            await asyncio.wait_for(process.wait(), 10)
        await drop_postgres_schema(schema)


async def test_uploads_through_one_process_are_served_by_the_other(tmp_path: Path) -> None:
    async with two_processes(tmp_path) as (first, second), httpx.AsyncClient(timeout=30) as client:
        image = png(32, 32)
        created = await client.post(
            f"{first}/chatkit",
            json={
                "type": "attachments.create",
                "params": {"name": "red.png", "size": len(image), "mime_type": "image/png"},
            },
            headers=ALICE,
        )
        assert created.status_code == 200, created.text
        attachment = created.json()
        # The signed upload URL names the first process; the load balancer sends the bytes to the second.
        upload_url = attachment["upload_descriptor"]["url"].replace(first, second)
        uploaded = await client.put(upload_url, content=image, headers=ALICE)
        assert uploaded.status_code == 200, uploaded.text
        assert (
            await client.put(attachment["upload_descriptor"]["url"], content=image, headers=ALICE)
        ).status_code == 409

        preview = await client.get(uploaded.json()["preview_url"].replace(second, first))
        assert preview.status_code == 200
        assert preview.content == image
        assert preview.headers["content-type"] == "image/png"
        assert preview.headers["content-length"] == str(len(image))

        notes = text(300_000)
        direct = await client.post(
            f"{second}/chatkit/upload", files={"file": ("notes.txt", notes, "text/plain")}, headers=ALICE
        )
        assert direct.status_code == 200, direct.text
        served = await client.get(f"{first}/chatkit/files/{direct.json()['id']}", headers=ALICE)
        assert served.status_code == 200 and served.content == notes
        assert (
            await client.get(f"{first}/chatkit/files/{direct.json()['id']}", headers={"x-user": "bob"})
        ).status_code == 404

        response = await client.post(
            f"{first}/chatkit", json=user_message("look", attachments=[attachment["id"]]), headers=ALICE
        )
        assert parse_events(response.content)[1]["item"]["attachments"][0]["id"] == attachment["id"]

        deleted = await client.post(
            f"{second}/chatkit",
            json={"type": "attachments.delete", "params": {"attachment_id": attachment["id"]}},
            headers=ALICE,
        )
        assert deleted.status_code == 200
        assert (await client.get(uploaded.json()["preview_url"].replace(second, first))).status_code == 404
