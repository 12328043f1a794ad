"""Done events for items that already exist in the store: saved in place, never added twice.

A workflow left open by the previous turn (before a client tool call) is loaded by the Agents
bridge and finished in the next turn. The reference adds it a second time; we update it. The
bridge says so with the event's class, so the pipeline needs no store lookup and no registry.
"""

from __future__ import annotations

from chatkit.types import ThreadItemDoneEvent


class ResumedItemDoneEvent(ThreadItemDoneEvent):
    """A `thread.item.done` for an item loaded from the store during this turn; the same on the wire."""
