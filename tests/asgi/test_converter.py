"""`LocalAttachmentConverter`: stored attachments become model input."""

from __future__ import annotations

import base64
from datetime import datetime
from pathlib import Path
from typing import Any

from chatkit.attachments import LocalAttachmentConverter, LocalAttachmentStore
from chatkit.types import InferenceOptions, UserMessageItem, UserMessageTextContent
from tests.asgi.test_uploads import png

ALICE = {"user_id": "alice"}


async def test_images_files_and_text_become_model_input(tmp_path: Path) -> None:
    files: LocalAttachmentStore[Any] = LocalAttachmentStore(tmp_path, base_url="https://x.example/chatkit")
    image = await files.add_file("red.png", "image/png", png(), ALICE)
    pdf = await files.add_file("doc.pdf", "application/pdf", b"%PDF-1.4 tiny", ALICE)
    notes = await files.add_file("notes.txt", "text/plain", "héllo".encode(), ALICE)
    never = files.describe("atc_none", "lost.png", "image/png", files.scope_key(ALICE))
    # A record that does not say where its file is (made by another attachment store).
    foreign = notes.model_copy(update={"metadata": None})
    converter = LocalAttachmentConverter(files)

    message = UserMessageItem(
        id="msg_1",
        thread_id="thr_1",
        created_at=datetime.now(),
        content=[UserMessageTextContent(text="see attached")],
        attachments=[image, pdf, notes, never, foreign],
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
    assert content[5] == {"type": "input_text", "text": "[attachment notes.txt was never uploaded]"}


async def test_deleting_removes_the_files_of_the_callers_tenant_only(tmp_path: Path) -> None:
    files: LocalAttachmentStore[Any] = LocalAttachmentStore(tmp_path)
    attachment = await files.add_file("a.txt", "text/plain", b"x", ALICE)
    alice = files.scope_key(ALICE)
    assert await files.load_file(attachment.id, alice) is not None
    await files.delete_attachment(attachment.id, {"user_id": "bob"})
    assert await files.load_file(attachment.id, alice) is not None
    await files.delete_attachment(attachment.id, ALICE)
    assert await files.load_file(attachment.id, alice) is None
    assert files_below(tmp_path) == []


def files_below(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]
