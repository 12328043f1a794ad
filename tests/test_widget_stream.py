"""`stream_widget` and `diff_widget`: the events and updates a streamed widget becomes."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from pydantic import BaseModel

from chatkit.server.widget_stream import diff_widget, stream_widget
from chatkit.store import StoreItemType
from chatkit.types import ThreadMetadata, WidgetRootUpdated
from chatkit.types.wire import WIRE_CONTEXT
from chatkit.widgets import (
    Badge,
    BasicRoot,
    Card,
    Col,
    Divider,
    DynamicWidgetRoot,
    ListView,
    ListViewItem,
    Markdown,
    Row,
    Spacer,
    Text,
    Title,
    Transition,
    WidgetRoot,
    WidgetTemplate,
)

THREAD = ThreadMetadata(id="thr_widgets", created_at=datetime(2024, 1, 2, 3, 4, 5))


class Timestamp:
    """Equal to any ISO-8601 timestamp string (item creation times are the clock's)."""

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, str):
            return False
        datetime.fromisoformat(other)
        return True

    def __repr__(self) -> str:
        return "<timestamp>"


TS = Timestamp()


def wire(model: BaseModel) -> Any:
    return json.loads(model.model_dump_json(by_alias=True, exclude_none=True, context=WIRE_CONTEXT))


async def collect(events: AsyncIterator[BaseModel]) -> list[Any]:
    return [wire(event) async for event in events]


async def states(*roots: WidgetRoot) -> AsyncGenerator[WidgetRoot, None]:
    for root in roots:
        yield root


def fixed_id(item_type: StoreItemType) -> str:
    assert item_type == "message"
    return "wid_1"


def item(widget: Any, copy_text: str | None = None) -> dict[str, Any]:
    fields = {"id": "wid_1", "thread_id": "thr_widgets", "created_at": TS, "type": "widget", "widget": widget}
    return fields if copy_text is None else {**fields, "copy_text": copy_text}


def delta(component_id: str, text: str, *, done: bool) -> dict[str, Any]:
    update = {"type": "widget.streaming_text.value_delta", "component_id": component_id, "delta": text, "done": done}
    return {"type": "thread.item.updated", "item_id": "wid_1", "update": update}


def root_updated(widget: Any) -> dict[str, Any]:
    return {
        "type": "thread.item.updated",
        "item_id": "wid_1",
        "update": {"type": "widget.root.updated", "widget": widget},
    }


# -- stream_widget ----------------------------------------------------------------------------


async def test_static_widget_is_one_done_event() -> None:
    card = Card(children=[Title(value="Static"), Text(value="Nothing streams here")])
    requested: list[str] = []

    def generate_id(item_type: StoreItemType) -> str:
        requested.append(item_type)
        return "wid_1"

    events = await collect(stream_widget(THREAD, card, copy_text="Static card", generate_id=generate_id))
    widget = {
        "type": "Card",
        "children": [{"type": "Title", "value": "Static"}, {"type": "Text", "value": "Nothing streams here"}],
    }
    assert events == [{"type": "thread.item.done", "item": item(widget, copy_text="Static card")}]
    assert requested == ["message"]


async def test_default_ids_are_message_ids() -> None:
    events = await collect(stream_widget(THREAD, Card(children=[])))
    assert len(events) == 1
    assert re.fullmatch(r"msg_[0-9a-f]{8}", events[0]["item"]["id"])


async def test_growing_text_streams_as_deltas_and_a_flag_flip_replaces_the_root() -> None:
    updates = states(
        Card(children=[Text(id="body", value="", streaming=True)]),
        Card(children=[Text(id="body", value="Hel", streaming=True)]),
        Card(children=[Text(id="body", value="Hello", streaming=True)]),
        Card(children=[Text(id="body", value="Hello world", streaming=True)]),
        Card(children=[Text(id="body", value="Hello world", streaming=False)]),
    )
    final = {"type": "Card", "children": [{"id": "body", "type": "Text", "value": "Hello world", "streaming": False}]}
    assert await collect(stream_widget(THREAD, updates, generate_id=fixed_id)) == [
        {
            "type": "thread.item.added",
            "item": item(
                {"type": "Card", "children": [{"id": "body", "type": "Text", "value": "", "streaming": True}]}
            ),
        },
        delta("body", "Hel", done=False),
        delta("body", "lo", done=False),
        delta("body", " world", done=False),
        root_updated(final),
        {"type": "thread.item.done", "item": item(final)},
    ]


async def test_nested_markdown_and_text_deltas_in_document_order() -> None:
    updates = states(
        Card(children=[Col(children=[Markdown(id="md", value="# Ti"), Text(id="plain", value="a")])]),
        Card(children=[Col(children=[Markdown(id="md", value="# Title"), Text(id="plain", value="ab")])]),
        Card(children=[Col(children=[Markdown(id="md", value="# Title\n\nBody"), Text(id="plain", value="ab")])]),
    )

    def widget(md: str, plain: str) -> dict[str, Any]:
        col = {
            "children": [
                {"id": "md", "type": "Markdown", "value": md},
                {"id": "plain", "type": "Text", "value": plain},
            ],
            "type": "Col",
        }
        return {"type": "Card", "children": [col]}

    assert await collect(stream_widget(THREAD, updates, copy_text="md", generate_id=fixed_id)) == [
        {"type": "thread.item.added", "item": item(widget("# Ti", "a"), copy_text="md")},
        delta("md", "tle", done=True),
        delta("plain", "b", done=True),
        delta("md", "\n\nBody", done=True),
        {"type": "thread.item.done", "item": item(widget("# Title\n\nBody", "ab"), copy_text="md")},
    ]


async def test_structure_changes_replace_the_root() -> None:
    updates = states(
        Card(children=[Text(id="t", value="One")]),
        Card(children=[Text(id="t", value="One"), Divider()]),
        ListView(children=[ListViewItem(children=[Text(id="t", value="One")])]),
    )
    second = {"type": "Card", "children": [{"id": "t", "type": "Text", "value": "One"}, {"type": "Divider"}]}
    third = {
        "type": "ListView",
        "children": [{"type": "ListViewItem", "children": [{"id": "t", "type": "Text", "value": "One"}]}],
    }
    assert await collect(stream_widget(THREAD, updates, generate_id=fixed_id)) == [
        {
            "type": "thread.item.added",
            "item": item({"type": "Card", "children": [{"id": "t", "type": "Text", "value": "One"}]}),
        },
        root_updated(second),
        root_updated(third),
        {"type": "thread.item.done", "item": item(third)},
    ]


async def test_template_built_states_stream_deltas() -> None:
    template = WidgetTemplate(
        {
            "version": "1.0",
            "name": "Streaming note",
            "template": '{"type":"Card","children":[{"type":"Text","id":"note","value":{{ value | tojson }},'
            '"streaming":{{ streaming | tojson }}}]}',
        }
    )
    updates = states(
        template.build({"value": "Dr", "streaming": True}),
        template.build({"value": "Draft", "streaming": True}),
        template.build({"value": "Draft done", "streaming": False}),
    )

    def widget(value: str, streaming: bool) -> dict[str, Any]:
        return {"type": "Card", "children": [{"type": "Text", "id": "note", "value": value, "streaming": streaming}]}

    assert await collect(stream_widget(THREAD, updates, generate_id=fixed_id)) == [
        {"type": "thread.item.added", "item": item(widget("Dr", True))},
        delta("note", "aft", done=False),
        root_updated(widget("Draft done", False)),
        {"type": "thread.item.done", "item": item(widget("Draft done", False))},
    ]


async def test_single_state_is_added_then_done() -> None:
    card = Card(children=[Text(id="t", value="Only")])
    widget = {"type": "Card", "children": [{"id": "t", "type": "Text", "value": "Only"}]}
    assert await collect(stream_widget(THREAD, states(card), generate_id=fixed_id)) == [
        {"type": "thread.item.added", "item": item(widget)},
        {"type": "thread.item.done", "item": item(widget)},
    ]


async def test_empty_generator_streams_nothing() -> None:
    assert await collect(stream_widget(THREAD, states(), generate_id=fixed_id)) == []


async def test_stopping_early_closes_the_source_generator() -> None:
    closed: list[bool] = []

    async def endless() -> AsyncGenerator[WidgetRoot, None]:
        try:
            count = 0
            while True:
                count += 1
                yield Card(children=[Text(id="t", value="x" * count)])
        finally:
            closed.append(True)

    stream = stream_widget(THREAD, endless(), generate_id=fixed_id)
    assert isinstance(stream, AsyncGenerator)
    first = await anext(stream)
    second = await anext(stream)
    assert [wire(first)["type"], wire(second)] == ["thread.item.added", delta("t", "x", done=True)]
    await stream.aclose()
    assert closed == [True]


async def test_error_in_the_source_propagates_after_what_was_sent() -> None:
    async def failing() -> AsyncGenerator[WidgetRoot, None]:
        yield Card(children=[])
        raise RuntimeError("state source broke")

    received: list[Any] = []
    with pytest.raises(RuntimeError, match="state source broke"):
        async for event in stream_widget(THREAD, failing(), generate_id=fixed_id):
            received.append(wire(event))
    assert received == [{"type": "thread.item.added", "item": item({"type": "Card", "children": []})}]


# -- diff_widget ------------------------------------------------------------------------------


def text_delta(component_id: str, text: str, *, done: bool) -> dict[str, Any]:
    return {"type": "widget.streaming_text.value_delta", "component_id": component_id, "delta": text, "done": done}


def replaced(widget: WidgetRoot) -> list[dict[str, Any]]:
    return [{"type": "widget.root.updated", "widget": wire(widget)}]


NO_UPDATE: list[dict[str, Any]] = []

DIFF_CASES: list[tuple[str, WidgetRoot, WidgetRoot, list[dict[str, Any]] | None]] = [
    # (case, before, after, expected updates; None: one widget.root.updated with `after`)
    ("identical", Card(children=[Text(id="t", value="Same")]), Card(children=[Text(id="t", value="Same")]), NO_UPDATE),
    (
        "text_grows_done",
        Card(children=[Text(id="t", value="Hel")]),
        Card(children=[Text(id="t", value="Hello")]),
        [text_delta("t", "lo", done=True)],
    ),
    (
        "text_grows_streaming",
        Card(children=[Text(id="t", value="Hel", streaming=True)]),
        Card(children=[Text(id="t", value="Hello", streaming=True)]),
        [text_delta("t", "lo", done=False)],
    ),
    (
        "markdown_grows",
        Card(children=[Markdown(id="m", value="*a")]),
        Card(children=[Markdown(id="m", value="*a*", streaming=False)]),
        None,  # the streaming prop appeared: a prop change
    ),
    ("text_without_id_grows", Card(children=[Text(value="Hel")]), Card(children=[Text(value="Hello")]), NO_UPDATE),
    ("text_without_id_rewritten", Card(children=[Text(value="Hello")]), Card(children=[Text(value="Help")]), None),
    (
        "text_not_prefix",
        Card(children=[Text(id="t", value="Hello")]),
        Card(children=[Text(id="t", value="Help")]),
        None,
    ),
    ("text_shrinks", Card(children=[Text(id="t", value="Hello")]), Card(children=[Text(id="t", value="Hell")]), None),
    (
        "streaming_flag_flips",
        Card(children=[Text(id="t", value="A", streaming=True)]),
        Card(children=[Text(id="t", value="A", streaming=False)]),
        None,
    ),
    (
        "prop_changed",
        Card(children=[Text(id="t", value="A")]),
        Card(children=[Text(id="t", value="A", weight="bold")]),
        None,
    ),
    ("root_prop_changed", Card(children=[]), Card(children=[], size="lg"), None),
    ("child_added", Card(children=[Text(id="t", value="A")]), Card(children=[Text(id="t", value="A"), Spacer()]), None),
    (
        "child_removed",
        Card(children=[Text(id="t", value="A"), Spacer()]),
        Card(children=[Text(id="t", value="A")]),
        None,
    ),
    (
        "child_type_changed",
        Card(children=[Text(id="t", value="A")]),
        Card(children=[Markdown(id="t", value="AB")]),
        None,
    ),
    (
        "root_type_changed",
        Card(children=[Text(id="t", value="A")]),
        BasicRoot(children=[{"type": "Text", "id": "t", "value": "A"}]),  # pyright: ignore[reportArgumentType]
        None,
    ),
    ("key_changed", Card(key="k1", children=[Text(value="A")]), Card(key="k2", children=[Text(value="A")]), None),
    ("id_changed", Card(children=[Text(id="t1", value="A")]), Card(children=[Text(id="t2", value="AB")]), None),
    (
        "nested_texts_in_document_order",
        Card(
            children=[
                Row(children=[Text(id="a", value="1"), Col(children=[Markdown(id="b", value="x")])]),
                Text(id="c", value="q"),
            ]
        ),
        Card(
            children=[
                Row(children=[Text(id="a", value="12"), Col(children=[Markdown(id="b", value="xyz")])]),
                Text(id="c", value="q"),
            ]
        ),
        [text_delta("a", "2", done=True), text_delta("b", "yz", done=True)],
    ),
    (
        "text_grows_and_prop_changed",
        Card(children=[Text(id="a", value="1"), Badge(label="new")]),
        Card(children=[Text(id="a", value="12"), Badge(label="old")]),
        None,
    ),
    (
        "text_inside_transition_is_not_streamed",
        Card(children=[Transition(children=Text(id="t", value="a"))]),
        Card(children=[Transition(children=Text(id="t", value="ab"))]),
        NO_UPDATE,
    ),
    (
        "text_inside_transition_rewritten",
        Card(children=[Transition(children=Text(id="t", value="ab"))]),
        Card(children=[Transition(children=Text(id="t", value="xy"))]),
        None,
    ),
    (
        "title_is_not_streamable",
        Card(children=[Title(id="t", value="Tit")]),
        Card(children=[Title(id="t", value="Title")]),
        None,
    ),
    (
        "list_view_item_text",
        ListView(children=[ListViewItem(children=[Text(id="t", value="It")])]),
        ListView(children=[ListViewItem(children=[Text(id="t", value="Item")])]),
        [text_delta("t", "em", done=True)],
    ),
    (
        "named_and_dynamic_with_the_same_json",
        Card(children=[Text(id="t", value="A")]),
        DynamicWidgetRoot.model_validate({"type": "Card", "children": [{"type": "Text", "id": "t", "value": "A"}]}),
        NO_UPDATE,
    ),
    (
        "dynamic_text_grows",
        DynamicWidgetRoot.model_validate({"type": "Card", "children": [{"type": "Text", "id": "t", "value": "A"}]}),
        DynamicWidgetRoot.model_validate({"type": "Card", "children": [{"type": "Text", "id": "t", "value": "AB"}]}),
        [text_delta("t", "B", done=True)],
    ),
]


@pytest.mark.parametrize(("case", "before", "after", "expected"), DIFF_CASES, ids=[case[0] for case in DIFF_CASES])
def test_diff_widget(case: str, before: WidgetRoot, after: WidgetRoot, expected: list[dict[str, Any]] | None) -> None:
    updates = diff_widget(before, after)
    assert [wire(update) for update in updates] == (replaced(after) if expected is None else expected)


def test_root_update_carries_the_new_state_itself() -> None:
    after = Card(children=[Text(id="t", value="B")])
    updates = diff_widget(Card(children=[Text(id="t", value="A")]), after)
    assert len(updates) == 1
    update = updates[0]
    assert isinstance(update, WidgetRootUpdated)
    assert update.widget is after
