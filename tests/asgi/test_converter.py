"""`LocalAttachmentConverter`: stored attachments become model input."""

from __future__ import annotations

import base64
from datetime import datetime
from pathlib import Path
from typing import Any

from chatkit.attachments import LocalAttachmentConverter, LocalAttachmentStore
from chatkit.types import InferenceOptions, UserMessageItem, UserMessageTextContent
from tests.asgi.test_uploads import png


async def test_images_files_and_text_become_model_input(tmp_path: Path) -> None:
    files: LocalAttachmentStore[Any] = LocalAttachmentStore(tmp_path, base_url="https://x.example/chatkit")
    image = files.describe("atc_img", "red.png", "image/png")
    pdf = files.describe("atc_pdf", "doc.pdf", "application/pdf")
    notes = files.describe("atc_txt", "notes.txt", "text/plain")
    never = files.describe("atc_none", "lost.png", "image/png")
    await files.save_file("atc_img", "red.png", "image/png", png())
    await files.save_file("atc_pdf", "doc.pdf", "application/pdf", b"%PDF-1.4 tiny")
    await files.save_file("atc_txt", "notes.txt", "text/plain", "héllo".encode())
    converter = LocalAttachmentConverter(files)

    message = UserMessageItem(
        id="msg_1",
        thread_id="thr_1",
        created_at=datetime.now(),
        content=[UserMessageTextContent(text="see attached")],
        attachments=[image, pdf, notes, never],
        inference_options=InferenceOptions(),
    )
    converted: Any = await converter.to_agent_input([message])
    content = converted[0]["content"]
    assert content[0] == {"type": "input_text", "text": "see attached"}
    assert content[1] == {
        "type": "input_image",
        "image_url": "data:image/png;base64," + base64.b64encode(png()).decode(),
        "detail": "auto",
    }
    assert content[2] == {
        "type": "input_file",
        "file_data": "data:application/pdf;base64," + base64.b64encode(b"%PDF-1.4 tiny").decode(),
        "filename": "doc.pdf",
    }
    assert content[3] == {"type": "input_text", "text": "Attached file notes.txt:\nhéllo"}
    assert content[4] == {"type": "input_text", "text": "[attachment lost.png was never uploaded]"}


async def test_deleting_removes_the_file(tmp_path: Path) -> None:
    files: LocalAttachmentStore[Any] = LocalAttachmentStore(tmp_path)
    await files.save_file("atc_1", "a.txt", "text/plain", b"x")
    assert await files.load_file("atc_1") is not None
    await files.delete_attachment("atc_1", None)
    assert await files.load_file("atc_1") is None
    assert not (tmp_path / "atc_1").exists()
    assert not (tmp_path / "atc_1.json").exists()
