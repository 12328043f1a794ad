"""The recorded transcripts whose steps hold their whole input, replayed against this package.

A converter step records the thread items it converted and what the reference's default
`ThreadItemConverter` made of them; a widget diff step records the two widgets and the updates;
a template step the `.widget` file, its data and the widget built. Those replay from the data alone,
so they run on a clone with nothing beside it. (Steps whose input is code — a scenario's own server,
converter subclass or model — are checked by the specification's `golden.py`, see `test_spec.py`.)
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter

from chatkit.agents import ThreadItemConverter, simple_to_agent_input
from chatkit.server import diff_widget
from chatkit.types import ThreadItem
from chatkit.widgets import DynamicWidgetRoot, WidgetRoot, WidgetTemplate
from tests.spec import SPEC_DATA

pytestmark = pytest.mark.unit

GOLDEN = SPEC_DATA / "golden"
ITEMS: TypeAdapter[ThreadItem] = TypeAdapter(ThreadItem)
WIDGETS: TypeAdapter[WidgetRoot] = TypeAdapter(WidgetRoot)


def recorded_steps(group: str, op: str, **matching: str) -> list[Any]:
    """The steps of `group` doing `op` (and with the given field values), as pytest params."""
    found: list[Any] = []
    for line in (GOLDEN / f"{group}.jsonl").read_text("utf-8").splitlines():
        scenario = json.loads(line)
        for index, step in enumerate(scenario["steps"]):
            if step["op"] == op and all(step.get(key) == value for key, value in matching.items()):
                found.append(pytest.param(step, id=f"{scenario['scenario']}-{index}-{step.get('case', '')}"))
    return found


def plain(value: Any) -> Any:
    """Models, typed dicts and datetimes as the JSON the transcripts hold."""

    def default(obj: Any) -> Any:
        if isinstance(obj, BaseModel):
            return obj.model_dump(mode="json")
        if isinstance(obj, datetime):
            return obj.isoformat()
        raise TypeError(f"{type(obj).__name__} is not JSON")

    return json.loads(json.dumps(value, default=default, ensure_ascii=False))


def raised(error: BaseException) -> dict[str, Any]:
    """An exception as the transcripts record it: its class and its builtin or pydantic bases."""
    bases = [
        cls.__name__
        for cls in type(error).__mro__[1:]
        if issubclass(cls, BaseException)
        and (cls.__module__ == "builtins" or cls.__module__.partition(".")[0].startswith("pydantic"))
    ]
    return {"type": type(error).__name__, "bases": bases}


def as_written(value: Any) -> Any:
    """`value` as if its code had set only the fields that differ from their defaults.

    Parsing a recorded item marks every field it holds as set, but the reference describes a widget
    built in code to the model without the fields the code left unset (and the scenarios set no
    field to its default value).
    """
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        kept = {
            name
            for name in value.model_fields_set
            if name not in fields or getattr(value, name) != fields[name].get_default(call_default_factory=True)
        }
        object.__setattr__(value, "__pydantic_fields_set__", kept)
        for name in kept:
            as_written(getattr(value, name))
    elif isinstance(value, (list, tuple)):
        for member in value:
            as_written(member)
    return value


def parse(item: dict[str, Any], written: bool) -> ThreadItem:
    """A recorded thread item; `written` for one the scenario built in code rather than loaded."""
    parsed = ITEMS.validate_python(item)
    return as_written(parsed) if written else parsed


CONVERTER_STEPS = recorded_steps("converter", "to_agent_input", converter="ThreadItemConverter")


def test_the_replayed_steps_are_the_recorded_ones() -> None:
    # A renamed field in the transcripts would silently leave nothing to replay.
    assert len(CONVERTER_STEPS) == 28
    assert len(DIFF_STEPS) == 16
    assert len(TEMPLATE_STEPS) == 5


@pytest.mark.parametrize("step", CONVERTER_STEPS)
async def test_the_default_converter_gives_the_model_what_the_reference_did(step: dict[str, Any]) -> None:
    recorded = step["items"]
    # An item the scenario loaded from a store has every field set, as parsing leaves it.
    written = not step["case"].endswith("from_store")
    items = [parse(item, written) for item in recorded] if isinstance(recorded, list) else parse(recorded, written)
    expected = {"raised": step["raised"]} if "raised" in step else {"output": step["output"]}
    try:
        converted = {"output": plain(await ThreadItemConverter().to_agent_input(items))}
    except Exception as error:
        converted = {"raised": raised(error)}
    assert converted == expected
    try:
        simple = {"output": plain(await simple_to_agent_input(items))}
    except Exception as error:
        simple = {"raised": raised(error)}
    assert (simple == expected) == step["simple_to_agent_input_same"]


DIFF_STEPS = recorded_steps("widgets", "diff_widget")


@pytest.mark.parametrize("step", DIFF_STEPS)
def test_a_widget_diff_gives_the_reference_updates(step: dict[str, Any]) -> None:
    before, after = WIDGETS.validate_python(step["before"]), WIDGETS.validate_python(step["after"])
    updates = [
        json.loads(update.model_dump_json(by_alias=True, exclude_none=True)) for update in diff_widget(before, after)
    ]
    assert updates == step["output"]


TEMPLATE_STEPS = recorded_steps("widgets", "WidgetTemplate.build")


@pytest.mark.parametrize("step", TEMPLATE_STEPS)
def test_a_widget_template_builds_the_reference_widget(step: dict[str, Any]) -> None:
    template = WidgetTemplate.from_file(str(SPEC_DATA / "assets" / "widgets" / step["file"]))
    built = template.build(step["data"])
    assert type(built).__name__ == step["widget_class"]
    assert template.name == step["template_name"]
    assert isinstance(built, DynamicWidgetRoot) or step["widget_class"] != "DynamicWidgetRoot"
    assert built.model_dump(exclude_none=True, by_alias=True) == step["output"]
    assert json.loads(built.model_dump_json(by_alias=True, exclude_none=True)) == step["wire"]
