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

from chatkit.store import AttachmentStore, Store
from chatkit.types import ThreadMetadata, ThreadStreamEvent, UserMessageItem
from tests.scripted_server import Context, ScriptedServerBase

__all__ = ["PARTS", "CannedServer", "Context"]

PARTS = 2
"""Assistant messages in an ordinary turn."""


class CannedServer(ScriptedServerBase):
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

    async def answer(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: Context
    ) -> AsyncIterator[ThreadStreamEvent]:
        """`PARTS` assistant messages, each naming the message it answers."""
        label = input_user_message.id if input_user_message is not None else "continued"
        for part in range(1, PARTS + 1):
            async for event in self.streamed_message(thread, context, self._words(f"{label} part {part}:")):
                yield event

    async def _words(self, prefix: str) -> AsyncIterator[str]:
        yield prefix
        for index in range(self.deltas):
            await asyncio.sleep(self.pause)
            yield f" w{index}"
