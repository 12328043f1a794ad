"""Done events for items that already exist in the store: saved in place, never added twice.

A workflow left open by the previous turn (before a client tool call) is loaded by the Agents
bridge and finished in the next turn. The reference adds it a second time; we update it. The
bridge marks the event it built for that item, so the pipeline needs no store lookup to tell.
"""

from __future__ import annotations

from weakref import WeakValueDictionary

from chatkit.types import ThreadItemDoneEvent

# Keyed by identity (pydantic models are unhashable); an entry goes when its event is collected,
# and the identity check below keeps a reused id() from matching another event.
_RESUMED: WeakValueDictionary[int, ThreadItemDoneEvent] = WeakValueDictionary()


def mark_resumed(event: ThreadItemDoneEvent) -> ThreadItemDoneEvent:
    """Flag `event` as finishing an item loaded from the store during this turn; returns it."""
    _RESUMED[id(event)] = event
    return event


def is_resumed(event: ThreadItemDoneEvent) -> bool:
    """True if `event` finishes an item the store already holds."""
    return _RESUMED.get(id(event)) is event
