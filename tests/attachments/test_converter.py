"""The converter hands the model what the user uploaded, from every attachment store and from a store of yours."""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from typing import Any, cast

import httpx
import pytest
from agents import Agent, RunConfig, Runner

from chatkit.attachments import AttachmentConverter, AttachmentReader, LocalAttachmentConverter
from chatkit.attachments._s3 import S3AttachmentStore
from chatkit.store import AttachmentStore
from chatkit.testing import Script, ScriptedModel
from chatkit.types import (
    Attachment,
    AttachmentCreateParams,
    FileAttachment,
    InferenceOptions,
    UserMessageItem,
    UserMessageTextContent,
)

from .backends import Files, stream
from .test_contract import ALICE, pieces, png, text

NO_TRACING = RunConfig(tracing_disabled=True)
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"


async def given_to_the_model(url: str) -> bytes:
    """The bytes behind what the model is handed: a data URL decoded, any other URL fetched over HTTP."""
    if url.startswith("data:"):
        return base64.b64decode(url.partition(";base64,")[2])
    async with httpx.AsyncClient() as client:
        response = await client.get(url)
    assert response.status_code == 200
    return response.content


def message(*attachments: Attachment) -> UserMessageItem:
    """A user message carrying `attachments`."""
    return UserMessageItem(
        id="msg_1",
        thread_id="thr_1",
        created_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
        content=[UserMessageTextContent(text="see attached")],
        attachments=list(attachments),
        inference_options=InferenceOptions(),
    )


async def test_the_model_gets_the_bytes_uploaded_to_each_store(files: Files) -> None:
    image, notes = png(16, 16), text(5000)
    photo = await files.streams.add_upload("red.png", None, stream(pieces(image, 700)), ALICE)
    report = await files.streams.add_upload("report.pdf", "application/pdf", stream(pieces(PDF, 900)), ALICE)
    readme = await files.streams.add_upload("notes.txt", "text/plain", stream(pieces(notes, 900)), ALICE)
    converter = AttachmentConverter(files.store)

    # What the model is given, as a scripted model records it from an ordinary run of an agent.
    model = ScriptedModel(Script().text("msg_2", "Seen."))
    agent = Agent(name="Reader", model=model)
    await Runner.run(agent, await converter.to_agent_input(message(photo, report, readme)), run_config=NO_TRACING)
    [entry] = model.inputs[0]
    content: list[Any] = cast(Any, entry)["content"]
    parts = {part["type"]: part for part in content if part.get("text") != "see attached"}
    assert await given_to_the_model(parts["input_image"]["image_url"]) == image
    pdf = parts["input_file"]
    assert pdf["filename"] == "report.pdf"
    assert await given_to_the_model(pdf.get("file_url") or pdf["file_data"]) == PDF
    assert parts["input_text"]["text"] == f"Attached file notes.txt:\n{notes.decode()}"
    # From the bucket the model gets short-lived URLs, so the bytes never pass through this process.
    by_url = isinstance(files.store, S3AttachmentStore)
    assert parts["input_image"]["image_url"].startswith("data:") != by_url
    assert ("file_url" in pdf) == by_url


async def test_an_attachment_never_uploaded_is_named_not_invented(files: Files) -> None:
    announced = await files.store.create_attachment(
        AttachmentCreateParams(name="later.png", size=100, mime_type="image/png"), ALICE
    )
    content = await AttachmentConverter(files.store).attachment_to_message_content(announced)
    assert content == {"type": "input_text", "text": "[attachment later.png was never uploaded]"}


class KeptInMemory(AttachmentStore[Any]):
    """A user's own store, as written for the reference: bytes in a dict, read through `AttachmentReader`."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    async def create_attachment(self, input: AttachmentCreateParams, context: Any) -> Attachment:
        """Not needed here: the test files bytes directly."""
        raise NotImplementedError

    async def delete_attachment(self, attachment_id: str, context: Any) -> None:
        """Forget the bytes."""
        self.blobs.pop(attachment_id, None)

    async def read_attachment(self, attachment: Attachment) -> bytes | None:
        """The bytes kept for the attachment."""
        return self.blobs.get(attachment.id)


async def test_a_store_of_your_own_is_read_through_the_protocol() -> None:
    store = KeptInMemory()
    assert isinstance(store, AttachmentReader)
    store.blobs["atc_1"] = PDF
    record = FileAttachment(id="atc_1", name="spec.pdf", mime_type="application/pdf")
    content: Any = await AttachmentConverter(store).attachment_to_message_content(record)
    assert content["type"] == "input_file" and await given_to_the_model(content["file_data"]) == PDF


def test_a_store_that_gives_neither_bytes_nor_urls_is_refused_up_front() -> None:
    class Opaque(AttachmentStore[Any]):
        async def create_attachment(self, input: AttachmentCreateParams, context: Any) -> Attachment:
            raise NotImplementedError

        async def delete_attachment(self, attachment_id: str, context: Any) -> None:
            return None

    with pytest.raises(TypeError, match="read_attachment or attachment_url"):
        AttachmentConverter(Opaque())


def test_the_local_converter_is_the_general_one_by_its_earlier_name() -> None:
    assert issubclass(LocalAttachmentConverter, AttachmentConverter)
