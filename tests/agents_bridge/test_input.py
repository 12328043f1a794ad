"""ThreadItemConverter beyond the recorded transcripts: call ids, payloads, widgets, workflows, files, tags."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, cast

import pytest
from agents.models.fake_id import FAKE_RESPONSES_ID
from openai.types.responses import ResponseInputContentParam

from chatkit.agents import ThreadItemConverter, simple_to_agent_input
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    Attachment,
    ClientToolCallItem,
    CustomTask,
    FileAttachment,
    InferenceOptions,
    SearchTask,
    ThoughtTask,
    ThreadItem,
    UserMessageItem,
    UserMessageTagContent,
    UserMessageTextContent,
    WidgetItem,
    Workflow,
    WorkflowItem,
)
from chatkit.widgets import Card, Text, WidgetTemplate

WHEN = datetime(2025, 1, 1)


def user(item_id: str, text: str, **fields: Any) -> UserMessageItem:
    return UserMessageItem(
        id=item_id,
        thread_id="thr_1",
        created_at=WHEN,
        content=[UserMessageTextContent(text=text)],
        inference_options=InferenceOptions(),
        **fields,
    )


def assistant(item_id: str, text: str) -> AssistantMessageItem:
    return AssistantMessageItem(
        id=item_id, thread_id="thr_1", created_at=WHEN, content=[AssistantMessageContent(text=text)]
    )


def tool_call(
    item_id: str, call_id: str, arguments: dict[str, Any], output: Any, status: str = "completed"
) -> ClientToolCallItem:
    return ClientToolCallItem.model_validate(
        {
            "id": item_id,
            "thread_id": "thr_1",
            "created_at": WHEN,
            "call_id": call_id,
            "name": "pick",
            "arguments": arguments,
            "output": output,
            "status": status,
        }
    )


@pytest.mark.parametrize("placeholder", [FAKE_RESPONSES_ID, "call_0"])
async def test_repeated_call_ids_over_three_turns_pair_each_call_with_its_output(placeholder: str) -> None:
    thread: list[ThreadItem] = [
        user("u1", "First"),
        tool_call("t1", placeholder, {"n": 1}, "one"),
        assistant("a1", "Got one."),
        user("u2", "Second"),
        tool_call("t2", placeholder, {"n": 2}, "two"),
        tool_call("t3", placeholder, {"n": 3}, None, status="pending"),
        assistant("a2", "Got two."),
        user("u3", "Third"),
    ]

    converted = await simple_to_agent_input(thread)

    calls = [item for item in converted if item.get("type") == "function_call"]
    outputs = [item for item in converted if item.get("type") == "function_call_output"]
    call_ids = [call["call_id"] for call in calls]  # type: ignore[typeddict-item]
    assert len(call_ids) == 2 and len(set(call_ids)) == 2 and FAKE_RESPONSES_ID not in call_ids
    assert [json.loads(call["arguments"]) for call in calls] == [{"n": 1}, {"n": 2}]  # type: ignore[typeddict-item]
    assert [(o["call_id"], o["output"]) for o in outputs] == [(call_ids[0], '"one"'), (call_ids[1], '"two"')]  # type: ignore[typeddict-item]
    for position, item in enumerate(converted):
        if item.get("type") == "function_call_output":
            assert converted[position - 1]["call_id"] == item["call_id"]  # type: ignore[typeddict-item]


async def test_distinct_call_ids_are_left_alone() -> None:
    converted = await simple_to_agent_input([tool_call("t1", "call_a", {}, 1), tool_call("t2", "call_b", {}, 2)])

    assert [item["call_id"] for item in converted] == ["call_a", "call_a", "call_b", "call_b"]  # type: ignore[typeddict-item]


AWKWARD = {
    "newlines": "one\ntwo\r\nthree",
    "quotes": "say \"hi\" and 'bye'",
    "json_looking": '{"key": [1, 2, {"x": null}]}',
    "unicode": "naïve café ☕ 東京 \U0001f600 \u200b",
    "backslash": "C:\\path\\to\\file",
}


async def test_awkward_arguments_and_outputs_round_trip_intact() -> None:
    converted = await simple_to_agent_input(
        [tool_call("t1", "call_1", AWKWARD, {"echo": AWKWARD, "list": ["\n", '"']})]
    )

    call, output = converted
    assert json.loads(call["arguments"]) == AWKWARD  # type: ignore[typeddict-item]
    assert json.loads(output["output"]) == {"echo": AWKWARD, "list": ["\n", '"']}  # type: ignore[typeddict-item]


async def test_attachments_and_tags_need_an_override() -> None:
    attachment = FileAttachment(id="atc_1", name="a.txt", mime_type="text/plain")
    with pytest.raises(NotImplementedError, match="attachment_to_message_content"):
        await ThreadItemConverter().to_agent_input(user("u1", "See file", attachments=[attachment]))

    tagged = user("u2", "Ask ")
    tagged.content.append(UserMessageTagContent(id="p1", text="Ann", data={}))
    with pytest.raises(NotImplementedError, match="tag_to_message_content"):
        await ThreadItemConverter().to_agent_input(tagged)


# -- widgets: the model reads the widget as the reference dumps it -------------------------------

WIDGET_PREFIX = "The following graphical UI widget (id: w1) was displayed to the user:"


def widget_item(widget: Any) -> WidgetItem:
    return WidgetItem(id="w1", thread_id="thr_1", created_at=WHEN, widget=widget)


def only_text(converted: list[Any]) -> str:
    (message,) = converted
    assert message["role"] == "user" and message["type"] == "message"
    (part,) = message["content"]
    assert part["type"] == "input_text"
    return part["text"]


async def test_a_widget_built_in_python_shows_its_set_props_with_type_last() -> None:
    item = widget_item(Card(children=[Text(id="t1", value="hi")]))

    text = only_text(await simple_to_agent_input(item))

    assert text == WIDGET_PREFIX + '{"children":[{"id":"t1","value":"hi","type":"Text"}],"type":"Card"}'


async def test_a_widget_loaded_back_from_a_store_keeps_its_stored_order() -> None:
    stored = widget_item(Card(children=[Text(id="t1", value="hi")])).model_dump_json()

    text = only_text(await simple_to_agent_input(WidgetItem.model_validate_json(stored)))

    assert text == WIDGET_PREFIX + '{"type":"Card","children":[{"id":"t1","type":"Text","value":"hi"}]}'


async def test_a_template_widget_shows_its_rendered_json_unescaped() -> None:
    template = WidgetTemplate(
        {
            "version": "1.0",
            "name": "Greeting",
            "template": '{"type":"Card","children":[{"type":"Text","value":"{{ v }}"}]}',
        }
    )

    text = only_text(await simple_to_agent_input(widget_item(template.build({"v": "café ☕"}))))

    assert text == WIDGET_PREFIX + '{"type":"Card","children":[{"type":"Text","value":"café ☕"}]}'


def test_a_component_dump_without_unset_props_keeps_its_type() -> None:
    assert Text(value="x").model_dump(exclude_unset=True) == {"value": "x", "type": "Text"}
    assert list(Text(value="x").model_dump(exclude_unset=True)) == ["value", "type"]
    assert Card(type="Card", children=[]).model_dump_json(exclude_unset=True) == '{"type":"Card","children":[]}'


# -- workflows ---------------------------------------------------------------------------------


def task_text(shown: str) -> str:
    return f"A message was displayed to the user that the following task was performed:\n<Task>\n{shown}\n</Task>"


async def test_a_workflow_gives_one_message_per_custom_task_that_says_something() -> None:
    workflow = Workflow(
        type="custom",
        tasks=[
            CustomTask(title="Searched", content="3 hits"),
            ThoughtTask(content="private reasoning"),
            CustomTask(title="Only a title"),
            CustomTask(content="Only content"),
            CustomTask(),
            SearchTask(title="Web", queries=["q"]),
        ],
    )
    item = WorkflowItem(id="wf1", thread_id="thr_1", created_at=WHEN, workflow=workflow)

    converted = await simple_to_agent_input(item)

    texts = [message["content"][0]["text"] for message in converted]  # type: ignore[index,typeddict-item]
    assert texts == [task_text("Searched: 3 hits"), task_text("Only a title"), task_text("Only content")]


async def test_a_workflow_of_thoughts_alone_gives_nothing() -> None:
    workflow = Workflow(type="reasoning", tasks=[ThoughtTask(content="hmm")])
    item = WorkflowItem(id="wf1", thread_id="thr_1", created_at=WHEN, workflow=workflow)

    assert await simple_to_agent_input(item) == []


# -- attachments and tags through a converter that can describe them ----------------------------


class DescribingConverter(ThreadItemConverter):
    async def attachment_to_message_content(self, attachment: Attachment) -> ResponseInputContentParam:
        return {"type": "input_text", "text": f"[file {attachment.name}]"}

    async def tag_to_message_content(self, tag: UserMessageTagContent) -> ResponseInputContentParam:
        return {"type": "input_text", "text": f"{tag.text} is {tag.data.get('role')}"}


async def test_attachments_follow_the_text_in_order() -> None:
    files = [
        FileAttachment(id="atc_1", name="a.txt", mime_type="text/plain"),
        FileAttachment(id="atc_2", name="b.csv", mime_type="text/csv"),
    ]

    (message,) = await DescribingConverter().to_agent_input(user("u1", "See files", attachments=files))

    assert message["content"] == [  # type: ignore[typeddict-item]
        {"type": "input_text", "text": "See files"},
        {"type": "input_text", "text": "[file a.txt]"},
        {"type": "input_text", "text": "[file b.csv]"},
    ]


async def test_tags_render_as_mentions_and_are_described_once_each() -> None:
    item = user("u1", "Ask ")
    item.content.extend(
        [
            UserMessageTagContent(id="p1", text="Ann", data={"role": "lead"}),
            UserMessageTextContent(text=" and "),
            UserMessageTagContent(id="p1", text="Ann", data={"role": "lead"}),
            UserMessageTextContent(text=" then "),
            UserMessageTagContent(id="p2", text="Bo", data={"role": "dev"}),
        ]
    )

    mention, context = await DescribingConverter().to_agent_input(item)

    assert mention["content"] == [{"type": "input_text", "text": "Ask @Ann and @Ann then @Bo"}]  # type: ignore[typeddict-item]
    header, *described = cast(list[dict[str, Any]], context["content"])  # type: ignore[typeddict-item]
    assert header["text"].startswith("# User-provided context for @-mentions")
    assert described == [
        {"type": "input_text", "text": "Ann is lead"},
        {"type": "input_text", "text": "Bo is dev"},
    ]
