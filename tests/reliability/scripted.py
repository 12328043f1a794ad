"""A scripted `ChatKitServer` for the load, crash and fuzz tests: canned answers, no model.

Every answer names the user message it replies to, so a checker can pair the items of a turn:
an ordinary turn is the user message followed by two assistant messages `"<msg id> part 1: …"` and
`"<msg id> part 2: …"`, each streamed as several deltas with a short pause between them. Words in
the user's text pick other endings: `tool` (a pending client tool call), `ask` (a pending
structured input) and `widget` (a widget item).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from chatkit.actions import Action
from chatkit.server import ChatKitServer
from chatkit.store import AttachmentStore, Store
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    AudioInput,
    ClientToolCallItem,
    StructuredInputFreeform,
    StructuredInputItem,
    SyncCustomActionResponse,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    TranscriptionResult,
    UserMessageItem,
    UserMessageTextContent,
    WidgetItem,
)
from chatkit.widgets import Card, Text

Context = dict[str, Any]
PARTS = 2
"""Assistant messages in an ordinary turn."""


def user_text(item: UserMessageItem | None) -> str:
    """The text of a user message ("" for none)."""
    if item is None:
        return ""
    return "".join(part.text for part in item.content if isinstance(part, UserMessageTextContent))


class CannedServer(ChatKitServer[Context]):
    """Streams canned answers: `deltas` deltas per assistant message, `pause` seconds apart."""

    def __init__(
        self,
        store: Store[Context],
        attachment_store: AttachmentStore[Context] | None = None,
        *,
        deltas: int = 6,
        pause: float = 0.01,
    ) -> None:
        super().__init__(store, attachment_store)
        self.deltas = deltas
        self.pause = pause

    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: Context
    ) -> AsyncIterator[ThreadStreamEvent]:
        """The scripted answer to the user's message (or a continuation when there is none)."""
        text = user_text(input_user_message)
        now = datetime.now()
        if "tool" in text:
            yield ThreadItemDoneEvent(
                item=ClientToolCallItem(
                    id=self.store.generate_item_id("tool_call", thread, context),
                    thread_id=thread.id,
                    created_at=now,
                    call_id="call_1",
                    name="pick_color",
                    arguments={"palette": "warm"},
                )
            )
            return
        if "ask" in text:
            yield ThreadItemDoneEvent(
                item=StructuredInputItem(
                    id=self.store.generate_item_id("message", thread, context),
                    thread_id=thread.id,
                    created_at=now,
                    inputs=[StructuredInputFreeform(id="q1", question="Why?")],
                )
            )
            return
        if "widget" in text:
            yield ThreadItemDoneEvent(item=self.widget(thread, context, "Press me"))
            return
        label = input_user_message.id if input_user_message is not None else "continued"
        for part in range(1, PARTS + 1):
            async for event in self._message(thread, context, f"{label} part {part}:"):
                yield event

    async def _message(self, thread: ThreadMetadata, context: Context, prefix: str) -> AsyncIterator[ThreadStreamEvent]:
        item = AssistantMessageItem(
            id=self.store.generate_item_id("message", thread, context),
            thread_id=thread.id,
            created_at=datetime.now(),
            content=[],
        )
        yield ThreadItemAddedEvent(item=item)
        yield ThreadItemUpdatedEvent(
            item_id=item.id,
            update=AssistantMessageContentPartAdded(content_index=0, content=AssistantMessageContent(text="")),
        )
        words = [prefix]
        yield ThreadItemUpdatedEvent(
            item_id=item.id, update=AssistantMessageContentPartTextDelta(content_index=0, delta=prefix)
        )
        for index in range(self.deltas):
            await asyncio.sleep(self.pause)
            word = f" w{index}"
            words.append(word)
            yield ThreadItemUpdatedEvent(
                item_id=item.id, update=AssistantMessageContentPartTextDelta(content_index=0, delta=word)
            )
        item.content = [AssistantMessageContent(text="".join(words))]
        yield ThreadItemDoneEvent(item=item)

    def widget(self, thread: ThreadMetadata, context: Context, label: str) -> WidgetItem:
        """A one-line card widget."""
        return WidgetItem(
            id=self.store.generate_item_id("message", thread, context),
            thread_id=thread.id,
            created_at=datetime.now(),
            widget=Card(children=[Text(value=label)]),
        )

    async def action(
        self, thread: ThreadMetadata, action: Action[str, Any], sender: WidgetItem | None, context: Context
    ) -> AsyncIterator[ThreadStreamEvent]:
        """Answer a widget action with a widget naming it."""
        yield ThreadItemDoneEvent(item=self.widget(thread, context, f"did {action.type}"))

    async def sync_action(
        self, thread: ThreadMetadata, action: Action[str, Any], sender: WidgetItem | None, context: Context
    ) -> SyncCustomActionResponse:
        """Replace the sender with a widget naming the action."""
        return SyncCustomActionResponse(updated_item=self.widget(thread, context, f"synced {action.type}"))

    async def transcribe(self, audio_input: AudioInput, context: Context) -> TranscriptionResult:
        """Pretend to transcribe: say how many bytes arrived."""
        return TranscriptionResult(text=f"{len(audio_input.data)} bytes of {audio_input.media_type}")
