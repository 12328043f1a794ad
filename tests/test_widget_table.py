"""Table, Table.Row and Table.Cell: the client's table widgets, which the reference lacks."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from chatkit.agents import simple_to_agent_input
from chatkit.server import diff_widget, stream_widget
from chatkit.types import (
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    WidgetComponentUpdated,
    WidgetItem,
    WidgetRootUpdated,
    WidgetStreamingTextValueDelta,
)
from chatkit.widgets import (
    Card,
    DynamicWidgetComponent,
    DynamicWidgetRoot,
    Table,
    TableCell,
    TableRow,
    Text,
    WidgetComponent,
    WidgetRoot,
    WidgetTemplate,
)
from tests.spec import SPEC_DATA

WHEN = datetime(2024, 1, 2, 3, 4, 5)


def price_card(price: str = "3 €", *, streaming: bool = False) -> Card:
    return Card(
        children=[
            Table(
                children=[
                    TableRow(
                        header=True,
                        children=[TableCell(children=[Text(value="Item")]), TableCell(children=[Text(value="Price")])],
                    ),
                    TableRow(
                        children=[
                            TableCell(children=[Text(value="Tea")], colSize="lg"),
                            TableCell(
                                children=[Text(id="price", value=price, streaming=streaming)],
                                align="end",
                                vAlign="center",
                                padding={"x": 2},
                                colSpan=1,
                                rowSpan=1,
                                width="40%",
                            ),
                        ]
                    ),
                ]
            )
        ]
    )


PRICE_CARD_JSON = {
    "type": "Card",
    "children": [
        {
            "type": "Table",
            "children": [
                {
                    "type": "Table.Row",
                    "header": True,
                    "children": [
                        {"type": "Table.Cell", "children": [{"type": "Text", "value": "Item"}]},
                        {"type": "Table.Cell", "children": [{"type": "Text", "value": "Price"}]},
                    ],
                },
                {
                    "type": "Table.Row",
                    "children": [
                        {"type": "Table.Cell", "children": [{"type": "Text", "value": "Tea"}], "colSize": "lg"},
                        {
                            "type": "Table.Cell",
                            "children": [{"type": "Text", "id": "price", "value": "3 €", "streaming": False}],
                            "align": "end",
                            "vAlign": "center",
                            "padding": {"x": 2},
                            "colSpan": 1,
                            "rowSpan": 1,
                            "width": "40%",
                        },
                    ],
                },
            ],
        }
    ],
}


def client_props(type_name: str) -> set[str]:
    """The prop names of a component type in the client's widgets.d.ts."""
    source = (SPEC_DATA / "client" / "widgets.d.ts").read_text("utf-8")
    match = re.search(rf"^(?:export )?type {type_name} = \{{(.*?)^\}};", source, re.MULTILINE | re.DOTALL)
    assert match, f"widgets.d.ts has no type {type_name}"
    return set(re.findall(r"^\s+(\w+)\??:", match.group(1), re.MULTILINE))


@pytest.mark.parametrize(("model", "client_type"), [(Table, "Table"), (TableRow, "TableRow"), (TableCell, "TableCell")])
def test_props_are_the_clients(model: type[Any], client_type: str) -> None:
    assert set(model.model_fields) == client_props(client_type)


def test_a_table_built_in_python_dumps_as_the_client_reads_it() -> None:
    assert json.loads(price_card().model_dump_json()) == PRICE_CARD_JSON


def test_a_stored_table_loads_back_as_table_components() -> None:
    item = WidgetItem(id="w1", thread_id="thr_1", created_at=WHEN, widget=price_card())

    loaded = WidgetItem.model_validate_json(item.model_dump_json())

    assert isinstance(loaded.widget, Card)
    (table,) = loaded.widget.children
    assert isinstance(table, Table) and table.children is not None
    header, row = table.children
    assert isinstance(header, TableRow) and header.header is True
    assert row.children is not None and isinstance(row.children[1], TableCell)
    assert row.children[1].colSize is None and row.children[1].align == "end"
    assert loaded == item


def test_any_component_position_accepts_the_table_parts_and_checks_their_props() -> None:
    adapter: TypeAdapter[Any] = TypeAdapter(WidgetComponent)
    assert type(adapter.validate_python({"type": "Table"})) is Table
    assert type(adapter.validate_python({"type": "Table.Row", "header": False})) is TableRow
    assert type(adapter.validate_python({"type": "Table.Cell", "colSpan": 2})) is TableCell
    with pytest.raises(ValidationError):
        TableCell(colSize="huge")  # pyright: ignore[reportArgumentType]
    with pytest.raises(ValidationError):
        TableRow(children=[Text(value="a cell is required here")])  # pyright: ignore[reportArgumentType]
    update = WidgetComponentUpdated.model_validate(
        {"type": "widget.component.updated", "component_id": "t", "component": {"type": "Table", "children": []}}
    )
    assert type(update.component) is Table


TABLE_TEMPLATE = json.dumps(
    {
        "type": "Card",
        "children": [
            {
                "type": "Table",
                "children": [
                    {
                        "type": "Table.Row",
                        "header": True,
                        "children": [{"type": "Table.Cell", "children": [{"type": "Text", "value": "Item"}]}],
                    },
                    "{% for row in rows %}",
                ],
            }
        ],
    }
).replace(
    '"{% for row in rows %}"',
    '{% for row in rows %}{"type":"Table.Row","children":[{"type":"Table.Cell","colSize":"lg",'
    '"children":[{"type":"Text","value":{{ row | tojson }}}]}]}{% if not loop.last %},{% endif %}{% endfor %}',
)


def test_a_template_builds_a_table() -> None:
    template = WidgetTemplate({"version": "1.0", "name": "Items", "template": TABLE_TEMPLATE})

    widget = template.build({"rows": ["Tea", "Coffee"]})

    assert isinstance(widget, DynamicWidgetRoot)
    dumped = widget.model_dump(exclude_none=True)
    rows = dumped["children"][0]["children"]
    assert [row["type"] for row in rows] == ["Table.Row"] * 3
    assert rows[2] == {
        "type": "Table.Row",
        "children": [{"type": "Table.Cell", "colSize": "lg", "children": [{"type": "Text", "value": "Coffee"}]}],
    }
    # As the client sends it back or a store returns it, the same JSON is a checked table.
    strict = TypeAdapter(WidgetRoot).validate_python(json.loads(widget.model_dump_json()))
    assert isinstance(strict, Card) and isinstance(strict.children[0], Table)


def test_a_dynamic_component_still_accepts_an_unknown_table_prop() -> None:
    # Templates are loose data: a prop the client adds later passes through untouched.
    loose = DynamicWidgetComponent.model_validate({"type": "Table.Cell", "stripe": True})
    assert loose.model_dump(exclude_none=True) == {"type": "Table.Cell", "stripe": True}


def test_diff_streams_text_growing_inside_a_table_cell() -> None:
    updates = diff_widget(price_card("3", streaming=True), price_card("3 €", streaming=True))

    assert updates == [WidgetStreamingTextValueDelta(component_id="price", delta=" €", done=False)]


def test_diff_replaces_the_root_when_a_table_prop_changes() -> None:
    before = price_card()
    after = price_card()
    table = after.children[0]
    assert isinstance(table, Table) and table.children is not None
    table.children[0].header = False

    assert diff_widget(before, after) == [WidgetRootUpdated(widget=after)]


async def test_stream_widget_sends_a_table_card_as_it_grows() -> None:
    async def states() -> AsyncGenerator[WidgetRoot, None]:
        for price in ("3", "3 ", "3 €"):
            yield price_card(price, streaming=True)

    thread = ThreadMetadata(id="thr_1", created_at=WHEN)
    events = [event async for event in stream_widget(thread, states(), generate_id=lambda _: "w1")]

    updates = [event.update for event in events if isinstance(event, ThreadItemUpdatedEvent)]
    assert updates == [
        WidgetStreamingTextValueDelta(component_id="price", delta=" ", done=False),
        WidgetStreamingTextValueDelta(component_id="price", delta="€", done=False),
    ]
    done = events[-1]
    assert isinstance(done, ThreadItemDoneEvent) and isinstance(done.item, WidgetItem)
    assert done.item.widget == price_card("3 €", streaming=True)


async def test_the_model_reads_a_table_widget_as_its_json() -> None:
    item = WidgetItem(id="w1", thread_id="thr_1", created_at=WHEN, widget=Card(children=[Table(children=[])]))

    (message,) = await simple_to_agent_input(item)

    text = message["content"][0]["text"]  # type: ignore[index,typeddict-item]
    assert text.endswith('{"children":[{"children":[],"type":"Table"}],"type":"Card"}')
