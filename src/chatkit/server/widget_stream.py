"""Widget streaming: send a widget as a thread item, and turn successive states into updates."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import datetime
from typing import Any

from chatkit._json import json_array, json_object
from chatkit.store import StoreItemType, default_generate_id
from chatkit.types import (
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    WidgetComponentUpdated,
    WidgetItem,
    WidgetRootUpdated,
    WidgetStreamingTextValueDelta,
)
from chatkit.widgets import WidgetRoot

# Components whose `value` the client can extend in place instead of re-rendering the widget.
_STREAMABLE_TYPES = frozenset({"Text", "Markdown"})

WidgetUpdate = WidgetStreamingTextValueDelta | WidgetRootUpdated | WidgetComponentUpdated
"""An update `diff_widget` produces."""


def diff_widget(before: WidgetRoot, after: WidgetRoot) -> list[WidgetUpdate]:
    """The updates that turn `before` into `after`: text deltas if only texts grew, else a root replacement."""
    return _diff(_wire(before), _wire(after), after)


async def stream_widget(
    thread: ThreadMetadata,
    widget: WidgetRoot | AsyncGenerator[WidgetRoot, None],
    copy_text: str | None = None,
    generate_id: Callable[[StoreItemType], str] = default_generate_id,
) -> AsyncIterator[ThreadStreamEvent]:
    """Send a widget as a `WidgetItem`: one done event, or added/updated/done for a generator of states."""
    item_id = generate_id("message")
    if not isinstance(widget, AsyncGenerator):
        yield ThreadItemDoneEvent(item=_widget_item(thread, item_id, widget, copy_text))
        return
    try:
        try:
            current = await anext(widget)
        except StopAsyncIteration:
            return
        item = _widget_item(thread, item_id, current, copy_text)
        yield ThreadItemAddedEvent(item=item)
        current_wire = _wire(current)
        async for state in widget:
            # Each state is dumped once and reused as the next diff's `before`.
            state_wire = _wire(state)
            for update in _diff(current_wire, state_wire, state):
                yield ThreadItemUpdatedEvent(item_id=item_id, update=update)
            current, current_wire = state, state_wire
        yield ThreadItemDoneEvent(item=item.model_copy(update={"widget": current}))
    finally:
        # A consumer that stops early must not leave the caller's generator suspended.
        await widget.aclose()


def _widget_item(thread: ThreadMetadata, item_id: str, widget: WidgetRoot, copy_text: str | None) -> WidgetItem:
    return WidgetItem(id=item_id, thread_id=thread.id, created_at=datetime.now(), widget=widget, copy_text=copy_text)


def _wire(widget: WidgetRoot) -> dict[str, Any]:
    # Compare what the client receives, so named and template-built widgets diff alike.
    return widget.model_dump(mode="json", by_alias=True, exclude_none=True)


def _diff(old: dict[str, Any], new: dict[str, Any], after: WidgetRoot) -> list[WidgetUpdate]:
    if old == new:
        return []
    deltas: list[WidgetUpdate] = []
    if _collect_deltas(old, new, deltas, can_stream=True):
        return deltas
    return [WidgetRootUpdated(widget=after)]


def _collect_deltas(old: dict[str, Any], new: dict[str, Any], deltas: list[WidgetUpdate], *, can_stream: bool) -> bool:
    """Append a delta for each grown streamable text of `new`; False if anything else differs."""
    if old.keys() != new.keys() or old.get("type") != new.get("type"):
        return False
    streamable = new.get("type") in _STREAMABLE_TYPES
    for key, new_value in new.items():
        old_value = old[key]
        if key == "children":
            if not _collect_children(old_value, new_value, deltas, can_stream=can_stream):
                return False
        elif streamable and key == "value" and isinstance(old_value, str) and isinstance(new_value, str):
            if not new_value.startswith(old_value):
                return False
            component_id = new.get("id")
            if new_value != old_value and can_stream and isinstance(component_id, str):
                deltas.append(
                    WidgetStreamingTextValueDelta(
                        component_id=component_id,
                        delta=new_value[len(old_value) :],
                        done=not new.get("streaming", False),
                    )
                )
        elif old_value != new_value:
            return False
    return True


def _collect_children(old: Any, new: Any, deltas: list[WidgetUpdate], *, can_stream: bool) -> bool:
    old_list, new_list = json_array(old), json_array(new)
    if old_list is not None and new_list is not None:
        if len(old_list) != len(new_list):
            return False
        return all(
            (o := json_object(old_child)) is not None
            and (n := json_object(new_child)) is not None
            and _collect_deltas(o, n, deltas, can_stream=can_stream)
            for old_child, new_child in zip(old_list, new_list, strict=True)
        )
    old_child, new_child = json_object(old), json_object(new)
    if old_child is not None and new_child is not None:
        # Matching the reference transcripts, a single child (as in `Transition`) is compared but
        # never streamed: its text may grow without any update being sent.
        return _collect_deltas(old_child, new_child, deltas, can_stream=False)
    return old == new
