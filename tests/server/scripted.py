"""A scripted `ChatKitServer` for tests: each test says what respond/action stream."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from chatkit.actions import Action
from chatkit.server import ChatKitServer, NonStreamingResult, StreamingResult
from chatkit.store import AttachmentStore, Store
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    Attachment,
    AttachmentCreateParams,
    AttachmentUploadDescriptor,
    FileAttachment,
    ImageAttachment,
    SyncCustomActionResponse,
    ThreadItemDoneEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
    WidgetItem,
)

Context = dict[str, Any]
Responder = Callable[[ThreadMetadata, UserMessageItem | None, Context], AsyncIterator[ThreadStreamEvent]]
ActionHandler = Callable[
    [ThreadMetadata, Action[str, Any], WidgetItem | None, Context], AsyncIterator[ThreadStreamEvent]
]

ALICE: Context = {"user_id": "alice"}
BOB: Context = {"user_id": "bob"}


class ResponderServer(ChatKitServer[Context]):
    """Runs whatever `responder` / `on_action` the test installed and records hook calls."""

    def __init__(self, store: Store[Context], attachment_store: AttachmentStore[Context] | None = None) -> None:
        super().__init__(store, attachment_store)
        self.responder: Responder = say("Hello!")
        self.on_action: ActionHandler | None = None
        self.calls: list[tuple[str, Any]] = []

    def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: Context
    ) -> AsyncIterator[ThreadStreamEvent]:
        self.calls.append(("respond", input_user_message))
        return self.responder(thread, input_user_message, context)

    def action(
        self, thread: ThreadMetadata, action: Action[str, Any], sender: WidgetItem | None, context: Context
    ) -> AsyncIterator[ThreadStreamEvent]:
        self.calls.append(("action", (action, sender)))
        if self.on_action is None:
            return super().action(thread, action, sender, context)
        return self.on_action(thread, action, sender, context)

    async def sync_action(
        self, thread: ThreadMetadata, action: Action[str, Any], sender: WidgetItem | None, context: Context
    ) -> SyncCustomActionResponse:
        self.calls.append(("sync_action", (action, sender)))
        if sender is None:
            return SyncCustomActionResponse()
        return SyncCustomActionResponse(updated_item=sender.model_copy(update={"copy_text": "handled"}))

    async def add_feedback(self, thread_id: str, item_ids: list[str], feedback: Any, context: Context) -> None:
        self.calls.append(("add_feedback", (thread_id, item_ids, feedback)))


class UploadTargets(AttachmentStore[Context]):
    """A two-phase attachment store that issues upload URLs and remembers deletions."""

    def __init__(self) -> None:
        self.deleted: list[str] = []

    async def create_attachment(self, input: AttachmentCreateParams, context: Context) -> Attachment:
        attachment_id = self.generate_attachment_id(input.mime_type, context)
        descriptor = AttachmentUploadDescriptor(url=f"https://uploads.test/{attachment_id}", method="PUT")  # type: ignore[arg-type]
        if input.mime_type.startswith("image/"):
            return ImageAttachment(
                id=attachment_id,
                name=input.name,
                mime_type=input.mime_type,
                upload_descriptor=descriptor,
                preview_url=f"https://previews.test/{attachment_id}",  # type: ignore[arg-type]
                metadata={"storage_key": attachment_id},
            )
        return FileAttachment(
            id=attachment_id,
            name=input.name,
            mime_type=input.mime_type,
            upload_descriptor=descriptor,
            metadata={"storage_key": attachment_id},
        )

    async def delete_attachment(self, attachment_id: str, context: Context) -> None:
        self.deleted.append(attachment_id)


def assistant(thread: ThreadMetadata, item_id: str, text: str) -> AssistantMessageItem:
    """A finished assistant message."""
    return AssistantMessageItem(
        id=item_id, thread_id=thread.id, created_at=datetime.now(), content=[AssistantMessageContent(text=text)]
    )


def say(*texts: str, first: int = 1) -> Responder:
    """A responder that sends each text as a finished assistant message (ids asst_<first>, ...)."""

    async def respond(
        thread: ThreadMetadata, message: UserMessageItem | None, context: Context
    ) -> AsyncIterator[ThreadStreamEvent]:
        for number, text in enumerate(texts, start=first):
            yield ThreadItemDoneEvent(item=assistant(thread, f"asst_{number}", text))

    return respond


def request(request_type: str, **params: Any) -> bytes:
    """A request body."""
    return json.dumps({"type": request_type, "params": params}).encode()


def user_input(text: str, **fields: Any) -> dict[str, Any]:
    """The `input` of a user message."""
    return {"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}, **fields}


async def stream(server: ChatKitServer[Context], body: bytes, context: Context = ALICE) -> list[dict[str, Any]]:
    """Send a streaming request and return its events, checking the SSE framing of each frame."""
    result = await server.process(body, context)
    assert isinstance(result, StreamingResult)
    events = []
    async for frame in result:
        assert isinstance(frame, bytes)
        assert frame.startswith(b"data: ") and frame.endswith(b"\n\n") and b"\n" not in frame[6:-2]
        events.append(json.loads(frame[6:-2]))
    return events


async def call(server: ChatKitServer[Context], body: bytes, context: Context = ALICE) -> Any:
    """Send a plain request and return its parsed JSON answer."""
    result = await server.process(body, context)
    assert isinstance(result, NonStreamingResult)
    return json.loads(result.json)


_GENERATED = re.compile(r"^(thr|msg|tc|wf|tsk|atc|shcx)_(?:[0-9a-f]{8}|[0-9a-f]{36})$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T")


def loose(value: Any) -> Any:
    """Replace generated ids and timestamps by placeholders so whole events can be compared."""
    if isinstance(value, dict):
        return {key: loose(item) for key, item in value.items()}
    if isinstance(value, list):
        return [loose(item) for item in value]
    if isinstance(value, str):
        if _GENERATED.match(value):
            return f"<{value.split('_')[0]}>"
        if _TIMESTAMP.match(value):
            return "<ts>"
    return value


def types_of(events: list[dict[str, Any]]) -> list[str]:
    """The event types in order."""
    return [event["type"] for event in events]
