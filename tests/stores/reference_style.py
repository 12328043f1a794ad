"""A store written the way the reference's examples write deletes, for the tests that must stay safe with one."""

from __future__ import annotations

from typing import Any

from chatkit.stores import MemoryStore
from chatkit.types import ThreadMetadata


class IdOnlyStore(MemoryStore):
    """Deletes in the reference's style: the id alone names the thread, whoever asks."""

    def __init__(self) -> None:
        super().__init__()
        self.owners: dict[str, Any] = {}

    async def save_thread(self, thread: ThreadMetadata, context: Any) -> None:
        """Save, remembering who created the thread."""
        self.owners.setdefault(thread.id, context)
        await super().save_thread(thread, context)

    async def delete_thread(self, thread_id: str, context: Any) -> None:
        """Delete the thread of whoever owns it."""
        await super().delete_thread(thread_id, self.owners.get(thread_id, context))
