"""A scripted `ChatKitServer` for the HTTP tests: its answers depend on the user's text."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from chatkit.store import AttachmentStore, Store
from chatkit.types import ThreadMetadata, ThreadStreamEvent, UserMessageItem
from tests.scripted_server import Context, ScriptedServerBase, user_text

__all__ = ["Context", "ScriptedServer", "user_text"]


class ScriptedServer(ScriptedServerBase):
    """Answers any other text with `words` streamed words, and counts turns.

    - `slow`: each word waits `delay` seconds (so a turn can be interrupted or dropped mid-way);
    - `hold`: the turn waits for `release` before its last word;
    - `tool`, `ask`, `widget`: as in `ScriptedServerBase`.
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
        """Stream the scripted answer, counting started and finished turns."""
        self.turns_started += 1
        async for event in super().respond(thread, input_user_message, context):
            yield event
        self.turns_finished += 1

    async def answer(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: Context
    ) -> AsyncIterator[ThreadStreamEvent]:
        """`words` words naming the text (or the message replied to)."""
        text = user_text(input_user_message)
        label = text or (input_user_message.id if input_user_message else "continue")

        async def words() -> AsyncIterator[str]:
            for index in range(self.words):
                # "slow" waits between words; "late" before the first one as well.
                if "slow" in text and (index or "late" in text):
                    await asyncio.sleep(self.delay)
                if "hold" in text and index == self.words - 1:
                    await self.release.wait()
                yield f"{label}:{index} "
                self.first_word_sent.set()

        async for event in self.streamed_message(thread, context, words()):
            yield event
