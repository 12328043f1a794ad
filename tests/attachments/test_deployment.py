"""Attachments through `create_app` in two server processes on one PostgreSQL database."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.http import parse_events, postgres_app_processes, user_message

from .test_contract import png, text

pytestmark = [pytest.mark.service, pytest.mark.process]

ALICE = {"x-user": "alice"}


async def test_uploads_through_one_process_are_served_by_the_other(tmp_path: Path) -> None:
    async with (
        postgres_app_processes(tmp_path, "tests.attachments.pg_files_app", headers=ALICE) as (first, second),
        httpx.AsyncClient(timeout=30) as client,
    ):
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
