"""End to end over a real network path: an OpenAI-compatible Chat Completions server on 127.0.0.1,
the SDK's Chat Completions model with the real `openai` client, and `ChatKitServer.process`.

Providers of this kind have no Responses item ids (the SDK fills in the placeholder `__fake_id__`)
and some repeat tool-call ids across calls; the thread and the model input must stay sound anyway.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from agents import Agent, OpenAIChatCompletionsModel, RunContextWrapper, StopAtTools, function_tool
from openai import AsyncOpenAI

from chatkit.agents import AgentContext, ChatCompletionsItemConverter, ClientToolCall
from chatkit.stores import MemoryStore
from chatkit.types import AssistantMessageItem

from .chat_completions_server import ChatCompletionsServer, text_completion, tool_call_completion
from .support import CONTEXT, AgentServer, loose, send, user_input


@function_tool
async def get_weather(ctx: RunContextWrapper[AgentContext[Any]], city: str) -> str:
    """The weather of a city."""
    await ctx.context.stream_progress("globe", f"Checking {city}")
    return f"Sunny, 21°C in {city}"


def local_model(server: ChatCompletionsServer) -> OpenAIChatCompletionsModel:
    client = AsyncOpenAI(base_url=server.base_url, api_key="test", max_retries=0)
    return OpenAIChatCompletionsModel(model="local-model", openai_client=client)


async def test_threads_create_answers_through_a_chat_completions_provider() -> None:
    provider = ChatCompletionsServer(
        [
            tool_call_completion("call_w1", "get_weather", {"city": "Paris"}),
            text_completion("It is sunny", " in Paris."),
        ]
    )
    store = MemoryStore()
    async with provider.running():
        agent = Agent(name="Assistant", instructions="Be brief.", model=local_model(provider), tools=[get_weather])
        events = await send(AgentServer(store, agent), "threads.create", input=user_input("Weather in Paris?"))

    thread_id = events[0]["thread"]["id"]
    message = {"id": "<msg#2>", "thread_id": "<thr#1>", "created_at": "<ts>", "type": "assistant_message"}
    text = "It is sunny in Paris."

    def part_update(update_type: str, **fields: Any) -> dict[str, Any]:
        return {"type": "thread.item.updated", "item_id": "<msg#2>", "update": {"type": update_type, **fields}}

    # Older SDK releases turn the provider's role-only first chunk into an empty text delta,
    # which the bridge passes on like any other; it shows nothing, so it is left out here.
    shown = [e for e in loose(events) if e.get("update", {}).get("delta", None) != ""]
    assert shown[2:] == [
        {"type": "stream_options", "stream_options": {"allow_cancel": True}},
        {"type": "progress_update", "icon": "globe", "text": "Checking Paris"},
        {"type": "thread.item.added", "item": {**message, "content": []}},
        part_update(
            "assistant_message.content_part.added",
            content_index=0,
            content={"annotations": [], "text": "", "type": "output_text"},
        ),
        part_update("assistant_message.content_part.text_delta", content_index=0, delta="It is sunny"),
        part_update("assistant_message.content_part.text_delta", content_index=0, delta=" in Paris."),
        part_update(
            "assistant_message.content_part.done",
            content_index=0,
            content={"annotations": [], "text": text, "type": "output_text"},
        ),
        {
            "type": "thread.item.done",
            "item": {**message, "content": [{"annotations": [], "text": text, "type": "output_text"}]},
        },
    ]
    stored = (await store.load_thread_items(thread_id, None, 20, "asc", CONTEXT)).data
    assert [item.type for item in stored] == ["user_message", "assistant_message"]
    answer = stored[1]
    assert isinstance(answer, AssistantMessageItem) and [part.text for part in answer.content] == [text]
    # What went over the wire: the tool call and its result were replayed to the provider.
    second = provider.requests[1]["messages"]
    assert second[-2]["tool_calls"][0]["id"] == "call_w1"
    assert second[-1] == {"role": "tool", "tool_call_id": "call_w1", "content": "Sunny, 21°C in Paris"}


TRICKY_ARGUMENTS = {
    "query": 'line one\nline "two"\t{"not": "json"}',
    "note": "naïve café ☕ — 東京 \U0001f600",
    "raw": '{"a": [1, 2]}',
}
TRICKY_OUTPUT = {"answer": 'He said "yes"\nthen left', "json_text": '[1, {"b": null}]', "emoji": "✅"}


@function_tool
async def pick(ctx: RunContextWrapper[AgentContext[Any]], query: str, note: str, raw: str) -> str:
    """Let the user pick something in the client."""
    ctx.context.client_tool_call = ClientToolCall(name="pick", arguments={"query": query, "note": note, "raw": raw})
    return "asked the client"


@pytest.mark.parametrize("call_id", ["call_0", "__fake_id__"])
async def test_repeated_placeholder_tool_call_ids_stay_paired_over_three_turns(call_id: str) -> None:
    provider = ChatCompletionsServer(
        [
            tool_call_completion(call_id, "pick", TRICKY_ARGUMENTS),
            text_completion("Got it."),
            tool_call_completion(call_id, "pick", TRICKY_ARGUMENTS),
            text_completion("Got it again."),
            text_completion("Bye."),
        ]
    )
    store = MemoryStore()
    async with provider.running():
        agent = Agent(
            name="Assistant",
            model=local_model(provider),
            tools=[pick],
            tool_use_behavior=StopAtTools(stop_at_tool_names=["pick"]),
        )
        server = AgentServer(store, agent, ChatCompletionsItemConverter())
        first = await send(server, "threads.create", input=user_input("First"))
        thread_id = first[0]["thread"]["id"]
        await send(server, "threads.add_client_tool_output", thread_id=thread_id, result=TRICKY_OUTPUT)
        await send(server, "threads.add_user_message", thread_id=thread_id, input=user_input("Second"))
        await send(server, "threads.add_client_tool_output", thread_id=thread_id, result={"n": 2})
        await send(server, "threads.add_user_message", thread_id=thread_id, input=user_input("Third"))

    stored = (await store.load_thread_items(thread_id, None, 50, "asc", CONTEXT)).data
    assert [item.type for item in stored] == [
        "user_message",
        "client_tool_call",
        "assistant_message",
        "user_message",
        "client_tool_call",
        "assistant_message",
        "user_message",
        "assistant_message",
    ]
    assert len({item.id for item in stored}) == len(stored), "every item keeps an id of its own"
    tool_calls = [item for item in stored if item.type == "client_tool_call"]
    assert [call.arguments for call in tool_calls] == [TRICKY_ARGUMENTS, TRICKY_ARGUMENTS]
    assert [call.output for call in tool_calls] == [TRICKY_OUTPUT, {"n": 2}]

    # The third turn's request replays both calls; each result answers its own call.
    messages = provider.requests[-1]["messages"]
    calls = [(m["tool_calls"][0]["id"], m["tool_calls"][0]["function"]) for m in messages if m.get("tool_calls")]
    results = [(m["tool_call_id"], m["content"]) for m in messages if m["role"] == "tool"]
    assert len(calls) == 2 and len({call for call, _ in calls}) == 2
    assert [json.loads(function["arguments"]) for _, function in calls] == [TRICKY_ARGUMENTS, TRICKY_ARGUMENTS]
    assert [call for call, _ in calls] == [call for call, _ in results]
    assert [json.loads(content) for _, content in results] == [TRICKY_OUTPUT, {"n": 2}]
    for position, message in enumerate(messages):
        if message["role"] == "tool":
            assert messages[position - 1]["tool_calls"][0]["id"] == message["tool_call_id"]
