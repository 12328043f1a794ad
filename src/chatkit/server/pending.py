"""Items that started streaming but are not done yet, kept current so a stopped turn can be saved.

Text deltas are buffered as lists and joined only when an item is handed out, so a reply of
any length costs the same per delta (no quadratic string building).
"""

from __future__ import annotations

from typing import TypeVar, cast

from chatkit.types import (
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartAnnotationAdded,
    AssistantMessageContentPartDone,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    GeneratedImageItem,
    GeneratedImageUpdated,
    ThreadItem,
    ThreadItemUpdate,
    WidgetComponentUpdated,
    WidgetItem,
    WidgetRootUpdated,
    WidgetStreamingTextValueDelta,
    WorkflowItem,
    WorkflowTaskAdded,
    WorkflowTaskUpdated,
)
from chatkit.widgets import WidgetRoot

T = TypeVar("T")


class PendingItems:
    """The pending items of one response, in the order they were added."""

    def __init__(self) -> None:
        self._items: dict[str, ThreadItem] = {}
        # (item id, content index) -> text pieces not yet joined into the content part
        self._text: dict[tuple[str, int], list[str]] = {}

    def add(self, item: ThreadItem) -> None:
        """Start tracking an item (a copy: the responder may keep mutating its own)."""
        self._items[item.id] = item.model_copy(deep=True)

    def discard(self, item_id: str) -> bool:
        """Stop tracking an item (it is done or removed); False if it was not tracked."""
        if self._items.pop(item_id, None) is None:
            return False
        for key in [key for key in self._text if key[0] == item_id]:
            del self._text[key]
        return True

    def apply(self, item_id: str, update: ThreadItemUpdate) -> None:
        """Fold an update into the tracked copy of the item it targets."""
        if type(update) is AssistantMessageContentPartTextDelta:
            # The hot path: one dict lookup and an append per delta of a reply.
            pieces = self._text.get((item_id, update.content_index))
            if pieces is not None:
                pieces.append(update.delta)
                return
        item = self._items.get(item_id)
        if item is None:
            return
        if isinstance(update, AssistantMessageContentPartTextDelta):
            if isinstance(item, AssistantMessageItem) and update.content_index < len(item.content):
                self._text[(item_id, update.content_index)] = [item.content[update.content_index].text, update.delta]
        elif isinstance(item, AssistantMessageItem):
            self._apply_to_message(item, update)
        elif isinstance(item, WorkflowItem):
            _apply_to_workflow(item, update)
        elif isinstance(item, WidgetItem):
            _apply_to_widget(item, update)
        elif isinstance(item, GeneratedImageItem) and isinstance(update, GeneratedImageUpdated):
            item.image = update.image

    def items(self) -> list[ThreadItem]:
        """The tracked items as they stand now."""
        for (item_id, index), pieces in self._text.items():
            item = self._items[item_id]
            if isinstance(item, AssistantMessageItem):
                item.content[index].text = "".join(pieces)
                del pieces[1:]
                pieces[0] = item.content[index].text
        return list(self._items.values())

    def _apply_to_message(self, item: AssistantMessageItem, update: ThreadItemUpdate) -> None:
        if isinstance(update, AssistantMessageContentPartAdded | AssistantMessageContentPartDone):
            self._text.pop((item.id, update.content_index), None)
            _put(item.content, update.content_index, update.content.model_copy(deep=True))
        elif isinstance(update, AssistantMessageContentPartAnnotationAdded) and update.content_index < len(
            item.content
        ):
            _put(item.content[update.content_index].annotations, update.annotation_index, update.annotation)


def _put(values: list[T], index: int, value: T) -> None:
    """Set `values[index]`, appending when the index is one past the end."""
    if index < len(values):
        values[index] = value
    else:
        values.append(value)


def _apply_to_workflow(item: WorkflowItem, update: ThreadItemUpdate) -> None:
    tasks = item.workflow.tasks
    if isinstance(update, WorkflowTaskAdded):
        tasks.insert(update.task_index, update.task) if update.task_index < len(tasks) else tasks.append(update.task)
    elif isinstance(update, WorkflowTaskUpdated):
        _put(tasks, update.task_index, update.task)


def _apply_to_widget(item: WidgetItem, update: ThreadItemUpdate) -> None:
    if isinstance(update, WidgetRootUpdated):
        item.widget = update.widget
    elif isinstance(update, WidgetStreamingTextValueDelta):
        component = _find_component(item.widget, update.component_id)
        if component is not None and isinstance(getattr(component, "value", None), str):
            component.value = component.value + update.delta  # type: ignore[attr-defined]
    elif isinstance(update, WidgetComponentUpdated):
        _replace_component(item.widget, update.component_id, update.component)


def _children(node: object) -> list[object]:
    children: object = getattr(node, "children", None)
    if children is None:
        return []
    return list(cast("list[object]", children)) if isinstance(children, list) else [children]


def _find_component(root: WidgetRoot, component_id: str) -> object | None:
    stack: list[object] = [root]
    while stack:
        node = stack.pop()
        if getattr(node, "id", None) == component_id:
            return node
        stack.extend(_children(node))
    return None


def _replace_component(root: WidgetRoot, component_id: str, component: object) -> None:
    stack: list[object] = [root]
    while stack:
        node = stack.pop()
        children: object = getattr(node, "children", None)
        if isinstance(children, list):
            siblings = cast("list[object]", children)
            for index, child in enumerate(siblings):
                if getattr(child, "id", None) == component_id:
                    siblings[index] = component
                    return
        elif children is not None and getattr(children, "id", None) == component_id:
            node.children = component  # type: ignore[attr-defined]
            return
        stack.extend(_children(node))
