"""Widget components, their JSON, `.widget` templates, deprecation warnings and `Action.create`."""

from __future__ import annotations

import importlib.util
import json
import os
import warnings
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import jinja2
import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError

from chatkit.actions import Action, ActionConfig
from chatkit.types import WidgetItem
from chatkit.widgets import (
    BasicRoot,
    Box,
    Button,
    Card,
    Col,
    DatePicker,
    DynamicWidgetComponent,
    DynamicWidgetRoot,
    ListView,
    ListViewItem,
    Markdown,
    Text,
    Title,
    Transition,
    WidgetRoot,
    WidgetTemplate,
)
from tests.spec import SPEC_DATA

NAMED_WIDGET_WARNING = (
    "Direct usage of named widget classes is deprecated. Use WidgetTemplate to build widgets "
    "from .widget files instead. Visit https://widgets.chatkit.studio/ to author widget files."
)
BUILD_BASIC_WARNING = "WidgetTemplate.build_basic is deprecated. Use WidgetTemplate.build instead."

AUTHOR_TEMPLATE = (
    '{"type":"Basic","children":[{"type":"Col","gap":1,"children":['
    '{"type":"Title","value":{{ (name) | tojson }},"size":"sm"},'
    '{"type":"Text","value":{{ (bio) | tojson }},"size":"sm"}]}]}'
)


def author_template() -> WidgetTemplate:
    return WidgetTemplate({"version": "1.0", "name": "Author", "template": AUTHOR_TEMPLATE})


# -- validation -------------------------------------------------------------------------------


def test_known_child_types_validate_into_named_components() -> None:
    card = Card.model_validate(
        {"children": [{"type": "Text", "value": "x"}, {"type": "Col", "children": [{"type": "Title", "value": "t"}]}]}
    )
    text, col = card.children
    assert isinstance(text, Text)
    assert isinstance(col, Col)
    assert col.children is not None
    assert isinstance(col.children[0], Title)


def test_unknown_child_type_validates_into_a_dynamic_component_keeping_its_props() -> None:
    card = Card.model_validate(
        {"children": [{"type": "Custom", "foo": 1, "children": [{"type": "Text", "value": "x"}]}]}
    )
    custom = card.children[0]
    assert type(custom) is DynamicWidgetComponent
    assert custom.model_dump() == {
        "type": "Custom",
        "children": [{"type": "Text", "children": None, "value": "x"}],
        "foo": 1,
    }


def test_a_root_is_not_a_component() -> None:
    with pytest.raises(ValidationError):
        Card(children=[ListView(children=[])])  # pyright: ignore[reportArgumentType]


def test_named_component_rejects_a_wrong_literal_prop() -> None:
    with pytest.raises(ValidationError):
        Text.model_validate({"value": "x", "weight": "heavy"})


def test_widget_root_union_picks_named_roots_by_type_and_falls_back_to_dynamic() -> None:
    adapter: TypeAdapter[WidgetRoot] = TypeAdapter(WidgetRoot)
    assert type(adapter.validate_python({"type": "Card", "children": []})) is Card
    assert type(adapter.validate_python({"type": "ListView", "children": []})) is ListView
    assert type(adapter.validate_python({"type": "Basic", "children": []})) is BasicRoot
    with pytest.raises(ValidationError):
        adapter.validate_python({"type": "Text", "value": "not a root"})


# -- serialization ----------------------------------------------------------------------------


def test_dumps_leave_out_unset_props_but_keep_children() -> None:
    assert Box().model_dump() == {"children": None, "type": "Box"}
    assert Box().model_dump(exclude_none=True) == {"type": "Box"}
    assert json.loads(Box(children=[Text(value="x")]).model_dump_json()) == {
        "children": [{"type": "Text", "value": "x"}],
        "type": "Box",
    }
    assert BasicRoot(children=[{"type": "Text", "value": "basic"}]).model_dump() == {  # pyright: ignore[reportArgumentType]
        "type": "Basic",
        "children": [{"type": "Text", "children": None, "value": "basic"}],
    }


def test_nested_prop_objects_lose_null_entries_but_integrator_data_is_verbatim() -> None:
    # An ActionConfig on its own keeps `payload: None`; inside a widget the null is dropped.
    assert ActionConfig(type="minimal").model_dump() == {
        "type": "minimal",
        "payload": None,
        "handler": "server",
        "loadingBehavior": "auto",
        "streaming": True,
    }
    assert Button(label="Go", onClickAction=ActionConfig(type="go")).model_dump(mode="json") == {
        "type": "Button",
        "label": "Go",
        "onClickAction": {"type": "go", "handler": "server", "loadingBehavior": "auto", "streaming": True},
    }
    button = Button(label="Go", onClickAction=ActionConfig(type="go", payload={"note": None, "ids": [1, None]}))
    assert button.model_dump()["onClickAction"]["payload"] == {"note": None, "ids": [1, None]}
    chart = DynamicWidgetRoot.model_validate(
        {"type": "Card", "children": [{"type": "Chart", "data": [{"month": "Jan", "sales": None}], "label": None}]}
    )
    assert chart.model_dump() == {
        "type": "Card",
        "children": [{"type": "Chart", "children": None, "data": [{"month": "Jan", "sales": None}]}],
    }


def test_card_dump_by_alias_without_none() -> None:
    card = Card(
        size="md",
        padding={"x": 4, "y": "8px"},
        status={"text": "Live", "icon": "bolt"},
        confirm={"label": "Send", "action": ActionConfig(type="send", payload={"draft": 1})},
        children=[
            Title(value="Hello", size="lg"),
            Text(id="body", value="Body", editable={"name": "body", "required": True}),
            DatePicker(name="when", defaultValue=datetime(2024, 1, 2, 3, 4, 5)),
            Transition(children=Markdown(value="**md**")),
        ],
    )
    assert card.model_dump(mode="json", exclude_none=True, by_alias=True) == {
        "type": "Card",
        "size": "md",
        "padding": {"x": 4.0, "y": "8px"},
        "status": {"text": "Live", "icon": "bolt"},
        "confirm": {
            "label": "Send",
            "action": {
                "type": "send",
                "payload": {"draft": 1},
                "handler": "server",
                "loadingBehavior": "auto",
                "streaming": True,
            },
        },
        "children": [
            {"type": "Title", "value": "Hello", "size": "lg"},
            {"id": "body", "type": "Text", "value": "Body", "editable": {"name": "body", "required": True}},
            {"type": "DatePicker", "name": "when", "defaultValue": "2024-01-02T03:04:05"},
            {"type": "Transition", "children": {"type": "Markdown", "value": "**md**"}},
        ],
    }


def test_widget_item_wire_form() -> None:
    item = WidgetItem(
        id="widget_1",
        thread_id="thr_1",
        created_at=datetime(2024, 1, 2, 3, 4, 5),
        widget=ListView(
            limit=2,
            children=[ListViewItem(key="a", children=[Text(value="A")], onClickAction=ActionConfig(type="pick"))],
        ),
        copy_text="A",
    )
    assert json.loads(item.model_dump_json(by_alias=True, exclude_none=True)) == {
        "id": "widget_1",
        "thread_id": "thr_1",
        "created_at": "2024-01-02T03:04:05",
        "type": "widget",
        "widget": {
            "type": "ListView",
            "limit": 2,
            "children": [
                {
                    "key": "a",
                    "type": "ListViewItem",
                    "children": [{"type": "Text", "value": "A"}],
                    "onClickAction": {
                        "type": "pick",
                        "handler": "server",
                        "loadingBehavior": "auto",
                        "streaming": True,
                    },
                }
            ],
        },
        "copy_text": "A",
    }


@pytest.mark.parametrize("component", [Text, Card, Box, Button, DynamicWidgetComponent, DynamicWidgetRoot])
def test_serializer_keeps_the_published_json_schema(component: type[BaseModel]) -> None:
    # The null-dropping serializer must not replace the serialization schema by a bare object.
    assert component.model_json_schema(mode="serialization") == component.model_json_schema(mode="validation")


# -- WidgetTemplate ---------------------------------------------------------------------------

SAMPLE_DATA: dict[str, dict[str, Any] | None] = {
    "basic_root": {"name": "Harry Potter", "bio": "The boy who lived"},
    "card_no_data": None,
    "card_with_data": {
        "channel": "#proj-chatkit",
        "time": "4:48 PM",
        "user": {"image": "/zj.png", "name": "Zach Johnston"},
    },
    "list_view_no_data": None,
    "list_view_with_data": {
        "items": [
            {"id": "blue", "label": "Blue line", "color": "blue-500"},
            {"id": "orange", "label": "Orange line", "color": "orange-500"},
            {"id": "purple", "label": "Purple line", "color": "purple-500"},
        ]
    },
}


@pytest.mark.parametrize("name", sorted(SAMPLE_DATA))
def test_sample_widget_files_build_their_preview(name: str) -> None:
    path = SPEC_DATA / "assets" / "widgets" / f"{name}.widget"
    definition = json.loads(path.read_text(encoding="utf-8"))
    template = WidgetTemplate.from_file(str(path))
    assert template.name == definition["name"]
    assert template.version == "1.0"
    assert template.data_schema == definition["jsonSchema"]
    widget = template.build(SAMPLE_DATA[name])
    assert type(widget) is DynamicWidgetRoot
    assert widget.model_dump(exclude_none=True) == definition["outputJsonPreview"]


def test_build_accepts_a_pydantic_model() -> None:
    class Author(BaseModel):
        name: str
        bio: str

    widget = author_template().build(Author(name="Ann", bio="Writer"))
    assert widget.model_dump() == {
        "type": "Basic",
        "children": [
            {
                "type": "Col",
                "children": [
                    {"type": "Title", "children": None, "value": "Ann", "size": "sm"},
                    {"type": "Text", "children": None, "value": "Writer", "size": "sm"},
                ],
                "gap": 1,
            }
        ],
    }


def test_from_file_resolves_a_relative_path_against_the_calling_module(tmp_path: Path) -> None:
    (tmp_path / "widgets").mkdir()
    definition = {"version": "1.0", "name": "Near the caller", "template": '{"type":"Card","children":[]}'}
    (tmp_path / "widgets" / "near.widget").write_text(json.dumps(definition), encoding="utf-8")
    caller = tmp_path / "caller_module.py"
    caller.write_text(
        "from chatkit.widgets import WidgetTemplate\n\n\n"
        "def load():\n"
        '    return WidgetTemplate.from_file("widgets/near.widget")\n',
        encoding="utf-8",
    )
    spec = importlib.util.spec_from_file_location("caller_module", caller)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert tmp_path != Path.cwd()
    template = module.load()
    assert template.name == "Near the caller"
    assert template.build().model_dump() == {"type": "Card", "children": []}


def test_from_file_relative_to_this_test_module() -> None:
    sample = SPEC_DATA / "assets" / "widgets" / "basic_root.widget"
    relative = os.path.relpath(sample, Path(__file__).parent)
    assert not Path(relative).is_absolute()
    assert WidgetTemplate.from_file(relative).name == "Author preview"


@pytest.mark.parametrize("version", ["2.0", "1", None])
def test_only_version_1_0_is_accepted(version: str | None) -> None:
    with pytest.raises(ValueError, match="version"):
        WidgetTemplate({"version": version, "name": "x", "template": "{}"})


def test_missing_variable_is_an_error_not_an_empty_value() -> None:
    strict = WidgetTemplate(
        {
            "version": "1.0",
            "name": "x",
            "template": '{"type":"Card","children":[{"type":"Text","value":"{{ title }}"}]}',
        }
    )
    with pytest.raises(jinja2.UndefinedError):
        strict.build({})
    # Through `tojson` the undefined value reaches json.dumps, which rejects it (as in the reference).
    with pytest.raises(TypeError):
        author_template().build({"name": "Ann"})
    with pytest.raises(TypeError):
        author_template().build()


def test_rendered_json_that_is_not_a_root_is_rejected() -> None:
    not_a_root = WidgetTemplate({"version": "1.0", "name": "x", "template": '{"type":"Text","value":"x"}'})
    with pytest.raises(ValidationError):
        not_a_root.build()


def test_build_basic_and_data_schema_default() -> None:
    with pytest.warns(DeprecationWarning, match="build_basic is deprecated"):
        basic = author_template().build_basic({"name": "Ann", "bio": "Writer"})
    assert type(basic) is BasicRoot
    assert basic.model_dump()["children"][0]["children"][0] == {
        "type": "Title",
        "children": None,
        "value": "Ann",
        "size": "sm",
    }
    no_schema = WidgetTemplate({"version": "1.0", "name": "x", "template": '{"type":"Basic","children":[]}'})
    assert no_schema.data_schema == {}


# -- deprecation warnings ---------------------------------------------------------------------


def warnings_of(fn: Callable[[], object]) -> list[tuple[type[Warning], str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn()
    return [(w.category, str(w.message)) for w in caught]


def test_named_widgets_warn_once_per_instance() -> None:
    named = (DeprecationWarning, NAMED_WIDGET_WARNING)
    assert warnings_of(lambda: Card(children=[Text(value="x")])) == [named, named]
    assert warnings_of(lambda: Card.model_validate({"children": [{"type": "Text", "value": "x"}]})) == [named, named]
    assert warnings_of(lambda: Text(value="x")) == [named]


def test_dynamic_widgets_templates_and_actions_do_not_warn() -> None:
    template = author_template()
    assert warnings_of(lambda: DynamicWidgetRoot.model_validate({"type": "Card", "children": []})) == []
    assert warnings_of(lambda: template.build({"name": "a", "bio": "b"})) == []
    assert warnings_of(lambda: ActionConfig(type="x")) == []
    assert warnings_of(lambda: template.build_basic({"name": "a", "bio": "b"})) == [
        (DeprecationWarning, BUILD_BASIC_WARNING)
    ]


def test_the_warning_points_at_the_caller() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Text(value="x")
        Card.model_validate({"children": [{"type": "Text", "value": "x"}]})
    assert [w.filename for w in caught] == [__file__] * 3


# -- Action.create ----------------------------------------------------------------------------


class LinePayload(BaseModel):
    id: str


class SelectLine(Action[Literal["line.select"], LinePayload]):
    pass


class Approve(Action[Literal["approve"], dict[str, Any]]):
    pass


def test_action_create_defaults() -> None:
    config = SelectLine.create(LinePayload(id="blue"))
    assert config.model_dump() == {
        "type": "line.select",
        "payload": {"id": "blue"},
        "handler": "server",
        "loadingBehavior": "auto",
        "streaming": True,
    }


def test_action_create_with_options() -> None:
    config = Approve.create({"ticket": 7}, handler="client", loading_behavior="self", streaming=False)
    assert config.model_dump() == {
        "type": "approve",
        "payload": {"ticket": 7},
        "handler": "client",
        "loadingBehavior": "self",
        "streaming": False,
    }


def test_generic_action_create_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        Action.create({"x": 1})


def test_typed_action_validation() -> None:
    assert SelectLine.model_validate({"type": "line.select", "payload": {"id": "red"}}).payload == LinePayload(id="red")
    assert SelectLine.model_validate({"payload": {"id": "red"}}).type == "line.select"
    with pytest.raises(ValidationError):
        SelectLine.model_validate({"type": "other", "payload": {"id": "red"}})
    free = Action[str, Any].model_validate({"type": "free.form", "payload": [1, "a"]})
    assert free.model_dump() == {"type": "free.form", "payload": [1, "a"]}
