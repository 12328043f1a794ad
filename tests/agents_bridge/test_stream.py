"""stream_agent_response over real `Runner.run_streamed` runs of a scripted model."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any, Literal, cast

import agents
import pytest
from agents import (
    GuardrailFunctionOutput,
    ImageGenerationTool,
    InputGuardrail,
    InputGuardrailTripwireTriggered,
    RunConfig,
    RunContextWrapper,
    Runner,
    StopAtTools,
    function_tool,
)
from agents.models.fake_id import FAKE_RESPONSES_ID
from openai.types.responses.response_output_text import AnnotationURLCitation
from pydantic import BaseModel

from chatkit.agents import (
    AgentContext,
    ClientToolCall,
    ResponseStreamConverter,
    accumulate_text,
    stream_agent_response,
)
from chatkit.server import stream_widget
from chatkit.stores import MemoryStore
from chatkit.testing import Script, ScriptedModel
from chatkit.types import CustomTask, ThreadMetadata, Workflow
from chatkit.widgets import Card, Markdown, Text

from .support import CONTEXT, THREAD_ID, agent, collect, loose, memory_context, message_events, run, update

Ctx = RunContextWrapper[AgentContext[Any]]


async def test_plain_text_is_one_assistant_message() -> None:
    context = await memory_context()
    model = ScriptedModel(Script().text("msg_a", "Hello", " there", "!").build())

    events = await run(context, agent(model))

    assert events == message_events("msg_a", "Hello", " there", "!")


@function_tool
async def lookup_weather(ctx: Ctx, city: str) -> str:
    """Look up the weather of a city."""
    await ctx.context.stream_progress("globe", f"Looking up {city}")
    return "Sunny"


async def test_tool_events_keep_their_place_between_model_outputs() -> None:
    context = await memory_context()
    model = ScriptedModel(
        Script("resp_1")
        .text("msg_a", "Let me check.")
        .call("fc_1", "call_1", "lookup_weather", {"city": "Paris"})
        .build(),
        Script("resp_2").text("msg_b", "Sunny in ", "Paris.").build(),
    )

    events = await run(context, agent(model, tools=[lookup_weather]))

    assert events == [
        *message_events("msg_a", "Let me check."),
        {"type": "progress_update", "icon": "globe", "text": "Looking up Paris"},
        *message_events("msg_b", "Sunny in ", "Paris."),
    ]


async def test_tool_events_reach_the_client_while_the_tool_still_runs() -> None:
    client_saw_progress = asyncio.Event()

    @function_tool
    async def slow_job(ctx: Ctx) -> str:
        """A job that reports progress, then waits for the client to have seen it."""
        await ctx.context.stream_progress(None, "Working")
        await client_saw_progress.wait()
        return "done"

    context = await memory_context()
    model = ScriptedModel(
        Script("resp_1").call("fc_1", "call_1", "slow_job", {}).build(),
        Script("resp_2").text("msg_a", "Finished.").build(),
    )
    result = Runner.run_streamed(
        agent(model, tools=[slow_job]), "Go", context=context, run_config=RunConfig(tracing_disabled=True)
    )
    seen: list[Any] = []

    async def consume() -> None:
        async for event in stream_agent_response(context, result):
            seen.append(event)
            if event.type == "progress_update":
                client_saw_progress.set()

    # Were tool events held back until the tool returned, this would never finish.
    await asyncio.wait_for(consume(), timeout=10)
    assert loose(seen) == [{"type": "progress_update", "text": "Working"}, *message_events("msg_a", "Finished.")]


@function_tool
async def get_location(ctx: Ctx, precision: str) -> str:
    """Ask the client where the user is."""
    ctx.context.client_tool_call = ClientToolCall(name="get_location", arguments={"precision": precision})
    return "asked"


async def test_client_tool_call_ends_the_turn_with_a_pending_item() -> None:
    context = await memory_context()
    model = ScriptedModel(Script().call("fc_1", "call_1", "get_location", {"precision": "city"}).build())
    stop = StopAtTools(stop_at_tool_names=["get_location"])

    events = await run(context, agent(model, tools=[get_location], tool_use_behavior=stop))

    assert events == [
        {
            "type": "thread.item.done",
            "item": {
                "id": "fc_1",
                "thread_id": THREAD_ID,
                "created_at": "<ts>",
                "type": "client_tool_call",
                "status": "pending",
                "call_id": "call_1",
                "name": "get_location",
                "arguments": {"precision": "city"},
            },
        }
    ]
    assert context.client_tool_call is None


async def test_reasoning_summaries_become_a_workflow_ended_by_the_message() -> None:
    context = await memory_context()
    model = ScriptedModel(
        Script().reasoning("rs_1", ["Think", "ing"], ["More"]).text("msg_a", "Answer.").build(),
    )

    events = await run(context, agent(model))

    workflow = {"id": "<wf#1>", "thread_id": THREAD_ID, "created_at": "<ts>", "type": "workflow"}

    def thought(content: str) -> dict[str, Any]:
        return {"status_indicator": "none", "type": "thought", "content": content}

    assert events == [
        {
            "type": "thread.item.added",
            "item": {**workflow, "workflow": {"type": "reasoning", "tasks": [], "expanded": False}},
        },
        update("<wf#1>", "workflow.task.added", task_index=0, task=thought("Think")),
        update("<wf#1>", "workflow.task.updated", task_index=0, task=thought("Thinking")),
        update("<wf#1>", "workflow.task.updated", task_index=0, task=thought("Thinking")),
        update("<wf#1>", "workflow.task.added", task_index=1, task=thought("More")),
        {
            "type": "thread.item.done",
            "item": {
                **workflow,
                "workflow": {
                    "type": "reasoning",
                    "tasks": [thought("Thinking"), thought("More")],
                    "summary": {"duration": "<seconds>"},
                    "expanded": False,
                },
            },
        },
        *message_events("msg_a", "Answer."),
    ]


async def test_tripped_guardrail_takes_back_what_was_shown_then_raises() -> None:
    saw_text, tripped = asyncio.Event(), asyncio.Event()

    async def guard(ctx: Any, agent: Any, user_input: Any) -> GuardrailFunctionOutput:
        await saw_text.wait()
        tripped.set()
        return GuardrailFunctionOutput(output_info=None, tripwire_triggered=True)

    async def until_tripped() -> None:
        await tripped.wait()
        for _ in range(10):
            await asyncio.sleep(0)

    script = Script().reasoning("rs_1", ["Hmm"]).text("msg_a", "Sure").build()
    model = ScriptedModel([*script[:-1], until_tripped, script[-1]])
    context = await memory_context()
    result = Runner.run_streamed(
        agent(model, input_guardrails=[InputGuardrail(guardrail_function=guard)]),
        "Off topic",
        context=context,
        run_config=RunConfig(tracing_disabled=True),
    )
    seen: list[Any] = []
    with pytest.raises(InputGuardrailTripwireTriggered):
        async for event in stream_agent_response(context, result):
            seen.append(event)
            if event.type == "thread.item.done" and event.item.type == "assistant_message":
                saw_text.set()

    removed = [e for e in loose(seen) if e["type"] == "thread.item.removed"]
    assert removed == [
        {"type": "thread.item.removed", "item_id": "<wf#1>"},
        {"type": "thread.item.removed", "item_id": "msg_a"},
    ]
    assert loose(seen)[-3]["type"] == "thread.item.done"


def refusal_handled() -> dict[str, Any]:
    """Run options that let a refusal end the run normally (older SDKs end it so without any)."""
    handler_result = getattr(agents, "RunErrorHandlerResult", None)
    if handler_result is None:
        return {}
    return {"error_handlers": {"model_refusal": lambda error: handler_result(final_output="refused")}}


async def test_refusal_arrives_as_the_message_text() -> None:
    context = await memory_context()
    model = ScriptedModel(Script().refusal("msg_a", "I can't help with that.").build())
    events = await run(context, agent(model), **refusal_handled())

    done = message_events("msg_a", "I can't help with that.")
    assert events == [done[0], done[1], done[-1]]


async def test_generated_image_streams_partials_with_progress() -> None:
    # Partial image i of n reports i / n, as the reference does.
    context = await memory_context()
    model = ScriptedModel(Script().image("ig_1", ["AAA=", "BBB="], "CCC=").text("msg_a", "Here.").build())
    tool = ImageGenerationTool(tool_config={"type": "image_generation", "partial_images": 2})
    result = Runner.run_streamed(
        agent(model, tools=[tool]), "Draw", context=context, run_config=RunConfig(tracing_disabled=True)
    )

    events = loose(
        await collect(stream_agent_response(context, result, converter=ResponseStreamConverter(partial_images=2)))
    )

    image_item = {"id": "<msg#1>", "thread_id": THREAD_ID, "created_at": "<ts>", "type": "generated_image"}
    assert events == [
        {"type": "thread.item.added", "item": image_item},
        update(
            "<msg#1>",
            "generated_image.updated",
            image={"id": "ig_1", "url": "data:image/png;base64,AAA="},
            progress=0.0,
        ),
        update(
            "<msg#1>",
            "generated_image.updated",
            image={"id": "ig_1", "url": "data:image/png;base64,BBB="},
            progress=0.5,
        ),
        {
            "type": "thread.item.done",
            "item": {**image_item, "image": {"id": "ig_1", "url": "data:image/png;base64,CCC="}},
        },
        *message_events("msg_a", "Here."),
    ]


CITATION = {
    "type": "url_citation",
    "url": "https://example.test/",
    "title": "Example",
    "start_index": 0,
    "end_index": 4,
}


@pytest.mark.parametrize("form", ["dict", "typed"])
async def test_citations_convert_alike_whether_dict_or_typed(form: Literal["dict", "typed"]) -> None:
    context = await memory_context()
    script = Script().text("msg_a", "Cited", annotations=[CITATION]).build()
    (event,) = [step for step in script if step.type == "response.output_text.annotation.added"]
    # Current openai SDKs build a model of the event module's own class; older ones typed the field
    # `object` and left the dict.
    event.annotation = dict(CITATION) if form == "dict" else AnnotationURLCitation(**CITATION)

    events = await run(context, agent(ScriptedModel(script)))

    converted = {
        "type": "annotation",
        "source": {"type": "url", "title": "Example", "url": "https://example.test/"},
        "index": 4,
    }
    added = [e for e in events if e["type"] == "thread.item.updated" and "annotation" in e["update"]]
    assert added == [
        update(
            "msg_a",
            "assistant_message.content_part.annotation_added",
            content_index=0,
            annotation_index=0,
            annotation=converted,
        )
    ]
    assert events[-1]["item"]["content"][0]["annotations"] == [converted]


class FutureEvent(BaseModel):
    """A Responses stream event of a type no current SDK knows."""

    type: str = "response.hologram.delta"
    sequence_number: int = 0
    hologram: str = "\U0001f52e"


class FutureItem(BaseModel):
    """An output item of a kind no current SDK knows."""

    type: str = "hologram"
    id: str = "holo_1"


async def test_unknown_events_and_item_kinds_are_skipped_with_a_debug_log(caplog: pytest.LogCaptureFixture) -> None:
    from openai.types.responses import ResponseOutputItemAddedEvent

    unknown_item = ResponseOutputItemAddedEvent.model_construct(
        type="response.output_item.added", sequence_number=0, output_index=9, item=FutureItem()
    )
    script = Script().step(FutureEvent()).step(unknown_item).text("msg_a", "Still fine.").build()
    context = await memory_context()

    with caplog.at_level(logging.DEBUG, logger="chatkit"):
        events = await run(context, agent(ScriptedModel(script)))

    assert events == message_events("msg_a", "Still fine.")
    messages = [r.getMessage() for r in caplog.records if r.name == "chatkit"]
    assert any("response.hologram.delta" in m for m in messages)
    assert any("'hologram'" in m for m in messages)


async def test_placeholder_item_ids_are_replaced_by_unique_ones() -> None:
    context = await memory_context()
    model = ScriptedModel(
        Script().text(FAKE_RESPONSES_ID, "One.").text(FAKE_RESPONSES_ID, "Two.").build(),
    )

    events = await run(context, agent(model))

    assert events == [*message_events("<msg#1>", "One."), *message_events("<msg#2>", "Two.")]


async def test_a_consumer_leaving_early_stops_the_run() -> None:
    never = asyncio.Event()
    script = Script().text("msg_a", "Partial").step(never.wait).build()
    context = await memory_context()
    result = Runner.run_streamed(
        agent(ScriptedModel(script)), "Hi", context=context, run_config=RunConfig(tracing_disabled=True)
    )
    stream = cast(AsyncGenerator[Any, None], stream_agent_response(context, result))

    first = await anext(stream)
    await asyncio.wait_for(stream.aclose(), timeout=10)

    assert first.type == "thread.item.added"
    assert result.is_complete
    # The run's task: public in current SDK releases, private in older ones.
    task = getattr(result, "run_loop_task", None) or getattr(result, "_run_impl_task", None)
    assert task is not None and task.done()


@function_tool
async def research(ctx: Ctx) -> str:
    """Research, showing a workflow and widgets."""
    await ctx.context.start_workflow(Workflow(type="custom", tasks=[]))
    await ctx.context.add_workflow_task(CustomTask(title="Searching", status_indicator="loading"))
    await ctx.context.add_workflow_task(CustomTask(title="Reading"))
    await ctx.context.update_workflow_task(CustomTask(title="Searching", status_indicator="complete"), 0)
    await ctx.context.end_workflow(expanded=True)
    await ctx.context.end_workflow()

    async def states():
        for value in ("A", "AB"):
            yield Card(children=[Text(id="t", value=value, streaming=True)])

    await ctx.context.stream_widget(states(), copy_text="AB")
    return "found"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_workflow_and_widget_helpers_stream_from_a_tool() -> None:
    context = await memory_context()
    model = ScriptedModel(
        Script("resp_1").call("fc_1", "call_1", "research", {}).build(),
        Script("resp_2").text("msg_a", "Done.").build(),
    )

    events = await run(context, agent(model, tools=[research]))

    def custom(title: str, status: str = "none") -> dict[str, Any]:
        return {"status_indicator": status, "type": "custom", "title": title}

    workflow = {"id": "<wf#1>", "thread_id": THREAD_ID, "created_at": "<ts>", "type": "workflow"}
    widget = {"id": "<msg#1>", "thread_id": THREAD_ID, "created_at": "<ts>", "type": "widget"}
    assert events == [
        # Held back while empty, the workflow first shows with its first task.
        {
            "type": "thread.item.added",
            "item": {
                **workflow,
                "workflow": {"type": "custom", "tasks": [custom("Searching", "loading")], "expanded": False},
            },
        },
        update("<wf#1>", "workflow.task.added", task_index=1, task=custom("Reading")),
        update("<wf#1>", "workflow.task.updated", task_index=0, task=custom("Searching", "complete")),
        {
            "type": "thread.item.done",
            "item": {
                **workflow,
                "workflow": {
                    "type": "custom",
                    "tasks": [custom("Searching", "complete"), custom("Reading")],
                    "summary": {"duration": "<seconds>"},
                    "expanded": True,
                },
            },
        },
        {
            "type": "thread.item.added",
            "item": {
                **widget,
                "widget": {"type": "Card", "children": [{"id": "t", "type": "Text", "value": "A", "streaming": True}]},
                "copy_text": "AB",
            },
        },
        update("<msg#1>", "widget.streaming_text.value_delta", component_id="t", delta="B", done=False),
        {
            "type": "thread.item.done",
            "item": {
                **widget,
                "widget": {"type": "Card", "children": [{"id": "t", "type": "Text", "value": "AB", "streaming": True}]},
                "copy_text": "AB",
            },
        },
        *message_events("msg_a", "Done."),
    ]


async def test_update_without_an_open_workflow_is_a_clear_error() -> None:
    context = await memory_context()
    with pytest.raises(ValueError, match="start_workflow"):
        await context.update_workflow_task(CustomTask(title="x"), 0)


async def test_accumulate_text_grows_a_markdown_widget() -> None:
    context = await memory_context()
    model = ScriptedModel(Script().text("msg_a", "Widget ", "text").build())
    result = Runner.run_streamed(agent(model), "Hi", context=context, run_config=RunConfig(tracing_disabled=True))

    states = [
        (m.value, m.streaming)
        async for m in accumulate_text(result.stream_events(), Markdown(id="md", value="", streaming=True))
    ]

    assert states == [("", True), ("Widget ", True), ("Widget text", True), ("Widget text", False)]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_accumulated_text_streams_as_widget_deltas() -> None:
    context = await memory_context()
    model = ScriptedModel(Script().text("msg_a", "ab", "cd").build())
    result = Runner.run_streamed(agent(model), "Hi", context=context, run_config=RunConfig(tracing_disabled=True))

    async def cards():
        async for text in accumulate_text(result.stream_events(), Text(id="t", value="", streaming=True)):
            yield Card(children=[text])

    events = loose(await collect(stream_widget(context.thread, cards())))

    deltas = [e["update"]["delta"] for e in events if e["type"] == "thread.item.updated" and "delta" in e["update"]]
    assert deltas == ["ab", "cd"]
    assert events[-1]["item"]["widget"]["children"][0] == {
        "id": "t",
        "type": "Text",
        "value": "abcd",
        "streaming": False,
    }


async def test_cancelling_the_consumer_mid_tool_stops_the_run() -> None:
    tool_started, tool_stopped = asyncio.Event(), asyncio.Event()

    @function_tool
    async def forever(ctx: Ctx) -> str:
        """A tool that never finishes on its own."""
        await ctx.context.stream_progress(None, "Started")
        tool_started.set()
        try:
            await asyncio.Event().wait()
        finally:
            tool_stopped.set()
        return "unreachable"

    context = await memory_context()
    model = ScriptedModel(Script().call("fc_1", "call_1", "forever", {}).build())
    result = Runner.run_streamed(
        agent(model, tools=[forever]), "Go", context=context, run_config=RunConfig(tracing_disabled=True)
    )
    seen: list[Any] = []

    async def consume() -> None:
        async for event in stream_agent_response(context, result):
            seen.append(event)

    consumer = asyncio.ensure_future(consume())
    await asyncio.wait_for(tool_started.wait(), timeout=10)
    await asyncio.sleep(0)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer

    await asyncio.wait_for(tool_stopped.wait(), timeout=10)
    assert [event.type for event in seen] == ["progress_update"]
    assert result.is_complete


async def test_a_thread_not_in_the_store_still_streams() -> None:
    context = AgentContext(
        thread=ThreadMetadata(id="thr_unsaved", created_at=datetime(2025, 1, 1)),
        store=MemoryStore(),
        request_context=CONTEXT,
    )
    model = ScriptedModel(Script().text("msg_a", "Hi.").build())

    events = await run(context, agent(model))

    assert [event["type"] for event in events] == [e["type"] for e in message_events("msg_a", "Hi.")]
