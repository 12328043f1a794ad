"""The scripted `ChatKitServer` the HTTP and reliability suites build on: canned answers, no model.

Words in the user's text pick the ending of a turn: `tool` (a pending client tool call), `ask` (a
pending structured input), `widget` (a widget whose actions are answered). Any other text gets the
subclass's `answer`, usually streamed with `streamed_message`.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from datetime import datetime
from typing import Any

from chatkit.actions import Action
from chatkit.server import ChatKitServer
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


def user_text(item: UserMessageItem | None) -> str:
    """The text of a user message ("" for none)."""
    if item is None:
        return ""
    return "".join(part.text for part in item.content if isinstance(part, UserMessageTextContent))


class ScriptedServerBase(ChatKitServer[Context]):
    """Answers by keyword; `answer` streams the reply to any other text."""

    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: Context
    ) -> AsyncIterator[ThreadStreamEvent]:
        """The scripted answer to the user's message (or a continuation when there is none)."""
        text = user_text(input_user_message)
        if "tool" in text:
            yield ThreadItemDoneEvent(
                item=ClientToolCallItem(
                    id=self.store.generate_item_id("tool_call", thread, context),
                    thread_id=thread.id,
                    created_at=datetime.now(),
                    call_id="call_1",
                    name="pick_color",
                    arguments={"palette": "warm"},
                )
            )
        elif "ask" in text:
            yield ThreadItemDoneEvent(
                item=StructuredInputItem(
                    id=self.store.generate_item_id("message", thread, context),
                    thread_id=thread.id,
                    created_at=datetime.now(),
                    inputs=[StructuredInputFreeform(id="q1", question="Why?")],
                )
            )
        elif "widget" in text:
            yield ThreadItemDoneEvent(item=self.widget(thread, context, "Press me"))
        else:
            async for event in self.answer(thread, input_user_message, context):
                yield event

    def answer(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: Context
    ) -> AsyncIterator[ThreadStreamEvent]:
        """The reply to text without a keyword."""
        raise NotImplementedError

    async def streamed_message(
        self, thread: ThreadMetadata, context: Context, chunks: AsyncIterable[str]
    ) -> AsyncIterator[ThreadStreamEvent]:
        """An assistant message streamed chunk by chunk: added, a content part, deltas, done."""
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
        text: list[str] = []
        async for chunk in chunks:
            text.append(chunk)
            yield ThreadItemUpdatedEvent(
                item_id=item.id, update=AssistantMessageContentPartTextDelta(content_index=0, delta=chunk)
            )
        item.content = [AssistantMessageContent(text="".join(text))]
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
