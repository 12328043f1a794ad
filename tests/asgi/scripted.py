"""A scripted `ChatKitServer` for the HTTP tests: its answers depend on the user's text."""

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


def user_text(item: UserMessageItem | None) -> str:
    """The text of a user message ("" for none)."""
    if item is None:
        return ""
    return "".join(part.text for part in item.content if isinstance(part, UserMessageTextContent))


class ScriptedServer(ChatKitServer[Context]):
    """Answers "reply N" style prompts with N streamed words; other words trigger other item kinds.

    - `slow`: each word waits `delay` seconds (so a turn can be interrupted or dropped mid-way);
    - `hold`: the turn waits for `release` before its last word;
    - `tool`: ends the turn with a pending client tool call; `ask`: with a pending structured input;
    - `widget`: answers with a widget whose actions `action` answers.
    """

    def __init__(
        self,
        store: Store[Context],
        attachment_store: AttachmentStore[Context] | None = None,
        *,
        words: int = 5,
        delay: float = 0.05,
    ) -> None:
        super().__init__(store, attachment_store)
        self.words = words
        self.delay = delay
        self.release = asyncio.Event()
        self.turns_started = 0
        self.turns_finished = 0
        self.first_word_sent = asyncio.Event()

    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: Context
    ) -> AsyncIterator[ThreadStreamEvent]:
        """Stream the scripted answer for the user's text."""
        text = user_text(input_user_message)
        self.turns_started += 1
        if "tool" in text:
            yield ThreadItemDoneEvent(
                item=ClientToolCallItem(
                    id=self.store.generate_item_id("tool_call", thread, context),
                    thread_id=thread.id,
                    created_at=datetime.now(),
                    call_id="call_1",
                    name="pick_color",
                    arguments={},
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
            yield ThreadItemDoneEvent(item=self._widget(thread, context, "Press me"))
        else:
            async for event in self._words(thread, context, text, reply_to=input_user_message):
                yield event
        self.turns_finished += 1

    async def _words(
        self, thread: ThreadMetadata, context: Context, text: str, reply_to: UserMessageItem | None
    ) -> AsyncIterator[ThreadStreamEvent]:
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
        label = text or (reply_to.id if reply_to else "continue")
        words: list[str] = []
        for index in range(self.words):
            if "slow" in text and index:
                await asyncio.sleep(self.delay)
            if "hold" in text and index == self.words - 1:
                await self.release.wait()
            word = f"{label}:{index} "
            words.append(word)
            yield ThreadItemUpdatedEvent(
                item_id=item.id, update=AssistantMessageContentPartTextDelta(content_index=0, delta=word)
            )
            self.first_word_sent.set()
        item.content = [AssistantMessageContent(text="".join(words))]
        yield ThreadItemDoneEvent(item=item)

    def _widget(self, thread: ThreadMetadata, context: Context, label: str) -> WidgetItem:
        return WidgetItem(
            id=self.store.generate_item_id("message", thread, context),
            thread_id=thread.id,
            created_at=datetime.now(),
            widget=Card(children=[Text(value=label)]),
        )

    async def action(
        self, thread: ThreadMetadata, action: Action[str, Any], sender: WidgetItem | None, context: Context
    ) -> AsyncIterator[ThreadStreamEvent]:
        """Answer a widget action with a new widget naming the action."""
        yield ThreadItemDoneEvent(item=self._widget(thread, context, f"did {action.type}"))

    async def sync_action(
        self, thread: ThreadMetadata, action: Action[str, Any], sender: WidgetItem | None, context: Context
    ) -> SyncCustomActionResponse:
        """Replace the sender with a widget naming the action."""
        return SyncCustomActionResponse(updated_item=self._widget(thread, context, f"synced {action.type}"))

    async def transcribe(self, audio_input: AudioInput, context: Context) -> TranscriptionResult:
        """Pretend to transcribe: say how many bytes arrived."""
        return TranscriptionResult(text=f"{len(audio_input.data)} bytes of {audio_input.media_type}")
