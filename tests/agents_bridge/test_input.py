"""ThreadItemConverter beyond the recorded transcripts: placeholder call ids and awkward payloads."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from agents.models.fake_id import FAKE_RESPONSES_ID

from chatkit.agents import ThreadItemConverter, simple_to_agent_input
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ClientToolCallItem,
    FileAttachment,
    InferenceOptions,
    ThreadItem,
    UserMessageItem,
    UserMessageTagContent,
    UserMessageTextContent,
)

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
