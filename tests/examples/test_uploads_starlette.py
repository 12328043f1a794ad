"""`examples/uploads_starlette`: Starlette + SQLite + a two-phase upload, then a turn, over real HTTP."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.examples.support import EXAMPLES, assistant_text, free_port, running_app, stream, user_input

# Each test runs the example as a process of its own.
pytestmark = pytest.mark.process

PNG_PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000b49444154789c63600002000005"
    "00017a5eab3f0000000049454e44ae426082"
)


async def test_a_text_file_and_an_image_are_uploaded_then_described(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "DATABASE_PATH": str(tmp_path / "chat.db"),
        "UPLOADS_DIR": str(tmp_path / "uploads"),
        "UPLOADS_SECRET": "test-secret",
    }
    args = ["-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port)]
    async with (
        running_app(args, cwd=EXAMPLES / "uploads_starlette", port=port, log=tmp_path / "app.log", env=env) as app,
        httpx.AsyncClient(base_url=app.base_url, timeout=30) as client,
    ):
        notes = b"Shopping list\nmilk\neggs\n"
        created = await client.post(
            "/chatkit",
            json={
                "type": "attachments.create",
                "params": {"name": "notes.txt", "size": len(notes), "mime_type": "text/plain"},
            },
        )
        assert created.status_code == 200, created.text
        descriptor = created.json()["upload_descriptor"]
        assert descriptor["url"].startswith(f"{app.base_url}/chatkit/uploads/")
        uploaded = await client.request(descriptor["method"], descriptor["url"], content=notes)
        assert uploaded.status_code == 200, uploaded.text
        assert "upload_descriptor" not in uploaded.json()

        direct = await client.post("/chatkit/upload", files={"file": ("pixel.png", PNG_PIXEL, "image/png")})
        assert direct.status_code == 200, direct.text
        image = direct.json()
        assert image["type"] == "image"
        preview = await client.get(image["preview_url"])
        assert preview.content == PNG_PIXEL

        events = await stream(
            client,
            "/chatkit",
            {
                "type": "threads.create",
                "params": {"input": user_input("What did I send?", [created.json()["id"], image["id"]])},
            },
        )
        assert assistant_text(events) == (
            "You attached:\n"
            f"- notes.txt: text/plain, {len(notes)} bytes, starting “Shopping list”\n"
            f"- pixel.png: image/png, {len(PNG_PIXEL)} bytes"
        )

        # The thread lives in SQLite: it is listed again with both attachments on the user's message.
        thread_id = events[0]["thread"]["id"]
        thread = await client.post("/chatkit", json={"type": "threads.get_by_id", "params": {"thread_id": thread_id}})
        [message, _answer] = thread.json()["items"]["data"]
        assert [attachment["name"] for attachment in message["attachments"]] == ["notes.txt", "pixel.png"]
    assert (tmp_path / "chat.db").exists()
