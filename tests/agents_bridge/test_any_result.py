"""stream_agent_response over streamed results that offer only the public `RunResultStreaming` surface.

`FakeStreamedResult` stands in for the SDK's third-party object: `stream_events()`, `cancel()` and
`is_complete`, nothing private, no Runner behind it. Its events come in every form programs build
them: the SDK's classes, other objects with the same fields, or plain dicts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest
from agents import (
    Agent,
    GuardrailFunctionOutput,
    InputGuardrail,
    InputGuardrailResult,
    InputGuardrailTripwireTriggered,
    RawResponsesStreamEvent,
    RunConfig,
    RunContextWrapper,
    RunItemStreamEvent,
    Runner,
    function_tool,
)
from agents.items import ToolCallItem
from openai.types.responses import ResponseFunctionToolCall
from pydantic import BaseModel

from chatkit.agents import AgentContext, ClientToolCall, ResponseStreamConverter, stream_agent_response
from chatkit.server.resumed import ResumedItemDoneEvent
from chatkit.stores import MemoryStore
from chatkit.testing import Script, ScriptedModel
from chatkit.types import (
    CustomTask,
    Page,
    ThoughtTask,
    ThreadItem,
    ThreadItemDoneEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    Workflow,
    WorkflowItem,
)

from .support import CONTEXT, THREAD_ID, agent, loose, memory_context, message_events, update, wire

Step = Any  # an event, or an async callable awaited at that point of the stream


class FakeStreamedResult:
    """The public surface of a streamed run: its events, `cancel()` and `is_complete`."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps
        self.is_complete = False
        self.cancelled = False
        self.stream_closed = False

    async def stream_events(self) -> AsyncIterator[Any]:
        try:
            for step in self.steps:
                if callable(step):
                    await cast(Callable[[], Awaitable[None]], step)()
                else:
                    yield step
        finally:
            self.stream_closed = True
            self.is_complete = True

    def cancel(self) -> None:
        self.cancelled = True
        self.is_complete = True


@dataclass
class PlainEvent:
    """A stream event of a program's own class, with the SDK event's fields."""

    type: str
    data: Any


def as_namespace(value: Any) -> Any:
    """`value` rebuilt as plain attribute objects (no model, no dict) with the same fields."""
    if isinstance(value, BaseModel):
        value = value.model_dump()
    if isinstance(value, dict):
        return SimpleNamespace(**{key: as_namespace(field) for key, field in cast(dict[str, Any], value).items()})
    if isinstance(value, list):
        return [as_namespace(item) for item in cast(list[Any], value)]
    return value


FORMS = ["sdk", "object", "dict", "namespace"]


def in_form(form: str, steps: list[Step]) -> list[Step]:
    """Responses events wrapped as raw response events of `form`; callables stay as they are."""

    def wrap(data: Any) -> Any:
        if form == "sdk":
            return RawResponsesStreamEvent(data=data)
        if form == "object":
            return PlainEvent(type="raw_response_event", data=data)
        if form == "dict":
            return {"type": "raw_response_event", "data": data.model_dump()}
        return SimpleNamespace(type="raw_response_event", data=as_namespace(data))

    return [step if callable(step) else wrap(step) for step in steps]


async def collect_events(context: AgentContext[Any], result: Any, **options: Any) -> list[ThreadStreamEvent]:
    return await asyncio.wait_for(_drain(agent_events(context, result, **options)), timeout=10)


def agent_events(context: AgentContext[Any], result: Any, **options: Any) -> AsyncIterator[ThreadStreamEvent]:
    """`stream_agent_response` over `result`, which only has to look like a streamed run."""
    return stream_agent_response(context, result, **options)


async def _drain(events: AsyncIterator[ThreadStreamEvent]) -> list[ThreadStreamEvent]:
    return [event async for event in events]


CITATION = {
    "type": "url_citation",
    "url": "https://example.test/",
    "title": "Example",
    "start_index": 0,
    "end_index": 5,
}
CONVERTED = {
    "type": "annotation",
    "source": {"type": "url", "title": "Example", "url": "https://example.test/"},
    "index": 5,
}


@pytest.mark.parametrize("form", FORMS)
async def test_text_deltas_content_parts_and_annotations_in_every_form(form: str) -> None:
    context = await memory_context()
    script = Script().text("msg_a", "Cited ", "answer", annotations=[CITATION]).build()
    result = FakeStreamedResult(in_form(form, script))

    events = loose(await collect_events(context, result))

    expected = message_events("msg_a", "Cited ", "answer")
    annotation = update(
        "msg_a",
        "assistant_message.content_part.annotation_added",
        content_index=0,
        annotation_index=0,
        annotation=CONVERTED,
    )
    # Annotations stream on their own and come back with the finished item, not on content_part.done.
    done = expected[-1]["item"]
    expected[-1] = {**expected[-1], "item": {**done, "content": [{**done["content"][0], "annotations": [CONVERTED]}]}}
    assert events == [*expected[:4], annotation, *expected[4:]]
    assert result.stream_closed


def rich_script() -> list[Step]:
    """Reasoning, a generated image, a refusal and a cited message: every kind the bridge converts."""
    return (
        Script()
        .reasoning("rs_1", ["Think", "ing"], ["More"])
        .image("ig_1", ["AAA=", "BBB="], "CCC=")
        .refusal("msg_b", "No.")
        .text("msg_a", "Cited ", "answer", annotations=[CITATION])
        .build()
    )


async def test_every_form_converts_like_a_real_run() -> None:
    converter = ResponseStreamConverter(partial_images=2)
    real_context = await memory_context()
    real = Runner.run_streamed(
        agent(ScriptedModel(rich_script())), "Hi", context=real_context, run_config=RunConfig(tracing_disabled=True)
    )
    reference = loose(await collect_events(real_context, real, converter=converter))
    assert len(reference) == 20

    for form in FORMS:
        context = await memory_context()
        result = FakeStreamedResult(in_form(form, rich_script()))
        assert loose(await collect_events(context, result, converter=converter)) == reference, form


def thought(content: str) -> dict[str, Any]:
    return {"status_indicator": "none", "type": "thought", "content": content}


@pytest.mark.parametrize("form", ["sdk", "dict"])
async def test_a_reasoning_workflow_is_announced_empty_and_never_changes_behind_the_consumer(form: str) -> None:
    context = await memory_context()
    script = Script().reasoning("rs_1", ["Think", "ing"], ["More"]).text("msg_a", "Answer.").build()
    result = FakeStreamedResult(in_form(form, script))
    as_received: list[Any] = []
    events: list[ThreadStreamEvent] = []

    # One event at a time, as a client reads them: what each said when it arrived must still hold.
    async for event in agent_events(context, result):
        as_received.append(wire(event))
        events.append(event)
    assert [wire(event) for event in events] == as_received

    workflow = {"id": "<wf#1>", "thread_id": THREAD_ID, "created_at": "<ts>", "type": "workflow"}
    assert loose(as_received)[:6] == [
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
    ]


async def test_partial_image_i_of_n_reports_progress_i_over_n() -> None:
    context = await memory_context()
    script = Script().image("ig_1", ["AAA=", "BBB=", "CCC="], "DDD=").build()
    result = FakeStreamedResult(in_form("dict", script))

    events = loose(await collect_events(context, result, converter=ResponseStreamConverter(partial_images=3)))

    progress = [e["update"]["progress"] for e in events if e["type"] == "thread.item.updated"]
    assert progress == [0.0, 1 / 3, 2 / 3]
    assert events[-1]["item"]["image"] == {"id": "ig_1", "url": "data:image/png;base64,DDD="}


async def test_without_a_partial_image_count_progress_is_zero() -> None:
    assert ResponseStreamConverter().partial_image_index_to_progress(1) == 0.0
    assert ResponseStreamConverter(partial_images=2).partial_image_index_to_progress(2) == 1.0


@pytest.mark.parametrize("form", ["sdk", "dict"])
async def test_tool_events_keep_their_place_between_model_outputs(form: str) -> None:
    context = await memory_context()

    async def tool() -> None:
        await context.stream_progress("globe", "Looking up Paris")

    steps = [
        *in_form(form, Script("resp_1").text("msg_a", "Let me check.").build()),
        tool,
        *in_form(form, Script("resp_2").text("msg_b", "Sunny.").build()),
    ]

    events = loose(await collect_events(context, FakeStreamedResult(steps)))

    assert events == [
        *message_events("msg_a", "Let me check."),
        {"type": "progress_update", "icon": "globe", "text": "Looking up Paris"},
        *message_events("msg_b", "Sunny."),
    ]


class QueuedResult:
    """A streamed run built like the SDK's: a task of its own runs it and queues its events.

    The run starts once its events are read (a real model takes that long to answer at least).
    """

    def __init__(self, run: Callable[[Callable[[Any], None]], Awaitable[None]]) -> None:
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        self._done = object()
        self._reading = asyncio.Event()
        self._task = asyncio.create_task(self._run(run))
        self.is_complete = False

    async def _run(self, run: Callable[[Callable[[Any], None]], Awaitable[None]]) -> None:
        await self._reading.wait()
        try:
            await run(self._queue.put_nowait)
        finally:
            self._queue.put_nowait(self._done)

    async def stream_events(self) -> AsyncIterator[Any]:
        self._reading.set()
        while (event := await self._queue.get()) is not self._done:
            yield event
        self.is_complete = True

    def cancel(self) -> None:
        self._task.cancel()


async def test_tool_events_follow_the_output_the_run_queued_before_the_tool_ran() -> None:
    context = await memory_context()

    async def run(emit: Callable[[Any], None]) -> None:
        # The model's message is queued, then the tool runs at once, before anyone read the queue.
        for event in in_form("sdk", Script("resp_1").text("msg_a", "Let me check.").build()):
            emit(event)
        await context.stream_progress("globe", "Looking up Paris")
        for event in in_form("sdk", Script("resp_2").text("msg_b", "Sunny.").build()):
            emit(event)

    events = loose(await collect_events(context, QueuedResult(run)))

    assert events == [
        *message_events("msg_a", "Let me check."),
        {"type": "progress_update", "icon": "globe", "text": "Looking up Paris"},
        *message_events("msg_b", "Sunny."),
    ]


async def test_tool_events_arrive_while_the_tool_still_runs() -> None:
    context = await memory_context()
    consumer_saw_progress = asyncio.Event()

    async def tool_in_its_own_task() -> None:
        async def tool() -> None:
            await context.stream_progress(None, "Working")
            await consumer_saw_progress.wait()

        await asyncio.create_task(tool())

    steps = [tool_in_its_own_task, *in_form("object", Script().text("msg_a", "Done.").build())]
    seen: list[ThreadStreamEvent] = []

    async def consume() -> None:
        async for event in agent_events(context, FakeStreamedResult(steps)):
            seen.append(event)
            if event.type == "progress_update":
                consumer_saw_progress.set()

    # Were tool events held back until the result's stream moved on, this would never finish.
    await asyncio.wait_for(consume(), timeout=10)
    assert loose(seen) == [{"type": "progress_update", "text": "Working"}, *message_events("msg_a", "Done.")]


def tool_called_event(form: str) -> Any:
    """The run item event of the model's call `fc_1` / `call_1`, as the SDK or a program builds it."""
    call = ResponseFunctionToolCall(
        id="fc_1", call_id="call_1", name="get_location", arguments="{}", type="function_call", status="completed"
    )
    if form == "sdk":
        item = ToolCallItem(agent=Agent(name="Assistant"), raw_item=call)
        return RunItemStreamEvent(name="tool_called", item=item)
    return {
        "type": "run_item_stream_event",
        "name": "tool_called",
        "item": {"type": "tool_call_item", "raw_item": call.model_dump()},
    }


@pytest.mark.parametrize("source", ["raw", "run_item_sdk", "run_item_dict"])
async def test_a_client_tool_call_takes_the_ids_of_the_models_function_call(source: str) -> None:
    context = await memory_context()

    async def tool() -> None:
        context.client_tool_call = ClientToolCall(name="get_location", arguments={"precision": "city"})

    if source == "raw":
        steps = in_form("dict", Script().call("fc_1", "call_1", "get_location", {}).build())
    else:
        steps = [tool_called_event(source.removeprefix("run_item_"))]

    events = loose(await collect_events(context, FakeStreamedResult([*steps, tool])))

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


def tripwire() -> InputGuardrailTripwireTriggered:
    guardrail = InputGuardrail(guardrail_function=lambda ctx, agent, item: GuardrailFunctionOutput(None, True))
    output = GuardrailFunctionOutput(output_info={"reason": "off topic"}, tripwire_triggered=True)
    return InputGuardrailTripwireTriggered(InputGuardrailResult(guardrail=guardrail, output=output))


async def test_a_tripped_guardrail_takes_back_what_was_shown_then_raises() -> None:
    context = await memory_context()
    script = Script().reasoning("rs_1", ["Hmm"]).text("msg_a", "Sure").build()

    async def trip() -> None:
        raise tripwire()

    result = FakeStreamedResult([*in_form("namespace", script[:-1]), trip])
    seen: list[ThreadStreamEvent] = []
    with pytest.raises(InputGuardrailTripwireTriggered):
        async for event in agent_events(context, result):
            seen.append(event)

    events = loose(seen)
    assert events[-2:] == [
        {"type": "thread.item.removed", "item_id": "<wf#1>"},
        {"type": "thread.item.removed", "item_id": "msg_a"},
    ]
    assert events[-3]["type"] == "thread.item.done"


async def test_a_consumer_leaving_early_cancels_the_result_and_closes_its_stream() -> None:
    context = await memory_context()
    never = asyncio.Event()
    result = FakeStreamedResult([*in_form("sdk", Script().text("msg_a", "Partial").build()), never.wait])
    stream = cast(AsyncGenerator[ThreadStreamEvent, None], agent_events(context, result))

    first = await anext(stream)
    await asyncio.wait_for(stream.aclose(), timeout=10)

    assert first.type == "thread.item.added"
    assert result.cancelled and result.stream_closed


async def test_cancelling_the_consumer_cancels_the_result() -> None:
    context = await memory_context()
    blocked = asyncio.Event()

    async def block() -> None:
        blocked.set()
        await asyncio.Event().wait()

    result = FakeStreamedResult([*in_form("dict", Script().text("msg_a", "Hi").build()), block])
    consumer = asyncio.create_task(_drain(agent_events(context, result)))
    await asyncio.wait_for(blocked.wait(), timeout=10)
    consumer.cancel()

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(consumer, timeout=10)
    assert result.cancelled and result.stream_closed


async def test_the_stream_ends_when_the_result_is_finished() -> None:
    context = await memory_context()
    result = FakeStreamedResult([])

    assert await collect_events(context, result) == []
    assert result.is_complete and not result.cancelled


async def test_events_a_tool_streams_after_the_run_wait_for_the_next_run() -> None:
    context = await memory_context()
    await collect_events(context, FakeStreamedResult([]))

    await context.stream_progress(None, "Late")
    events = loose(await collect_events(context, FakeStreamedResult([])))

    assert events == [{"type": "progress_update", "text": "Late"}]


@function_tool
async def lookup(ctx: RunContextWrapper[AgentContext[Any]]) -> str:
    """Look something up, showing progress."""
    await ctx.context.stream_progress("search", "Looking up")
    return "found"


class PublicSurface:
    """A real SDK run seen only through its public surface (as a wrapper or proxy would show it)."""

    def __init__(self, result: Any) -> None:
        self._result = result

    def stream_events(self) -> AsyncIterator[Any]:
        return self._result.stream_events()

    def cancel(self) -> None:
        self._result.cancel()

    @property
    def is_complete(self) -> bool:
        return self._result.is_complete


async def test_a_real_run_behind_its_public_surface_keeps_tool_events_in_place() -> None:
    context = await memory_context()
    model = ScriptedModel(
        Script("resp_1").text("msg_a", "Let me check.").call("fc_1", "call_1", "lookup", {}).build(),
        Script("resp_2").text("msg_b", "Found ", "it.").build(),
    )
    real = Runner.run_streamed(
        agent(model, tools=[lookup]), "Go", context=context, run_config=RunConfig(tracing_disabled=True)
    )

    events = loose(await collect_events(context, PublicSurface(real)))

    assert events == [
        *message_events("msg_a", "Let me check."),
        {"type": "progress_update", "icon": "search", "text": "Looking up"},
        *message_events("msg_b", "Found ", "it."),
    ]


class OwnStore:
    """A store written for the reference by someone else: no `Store` base class, only what is called."""

    def __init__(self, items: list[ThreadItem]) -> None:
        self.items = items
        self.calls: list[str] = []
        self.count = 0

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int, order: str, context: Any
    ) -> Page[ThreadItem]:
        self.calls.append(f"load_thread_items {limit} {order}")
        return Page(data=self.items[::-1][:limit], has_more=False)

    def generate_item_id(self, item_type: str, thread: ThreadMetadata, context: Any) -> str:
        self.count += 1
        return f"{item_type}_{self.count}"

    async def save_item(self, thread_id: str, item: ThreadItem, context: Any) -> None:
        self.calls.append(f"save_item {item.id}")


async def test_any_object_is_accepted_as_the_store_unvalidated() -> None:
    thread = ThreadMetadata(id=THREAD_ID, created_at=datetime(2025, 1, 1))
    store = OwnStore([])

    context = AgentContext(thread=thread, store=cast(Any, store), request_context=CONTEXT)
    assert context.store is store
    assert AgentContext(thread=thread, store=cast(Any, object()), request_context=CONTEXT).store is not None

    events = await collect_events(context, FakeStreamedResult(in_form("dict", rich_script())))

    assert store.calls == ["load_thread_items 2 desc"]
    assert events[0].type == "thread.item.added" and events[0].item.id == "workflow_1"


def open_workflow() -> WorkflowItem:
    return WorkflowItem(
        id="wf_open",
        thread_id=THREAD_ID,
        created_at=datetime(2025, 1, 1),
        workflow=Workflow(type="custom", tasks=[CustomTask(title="Job started", status_indicator="loading")]),
    )


def done_events(events: list[ThreadStreamEvent]) -> list[tuple[str, bool]]:
    return [(e.item.id, isinstance(e, ResumedItemDoneEvent)) for e in events if isinstance(e, ThreadItemDoneEvent)]


async def test_the_done_event_of_a_resumed_workflow_is_marked_when_the_message_ends_it() -> None:
    store = MemoryStore()
    context = await memory_context(store)
    await store.add_thread_item(THREAD_ID, open_workflow(), CONTEXT)
    script = Script().text("msg_a", "Finished.").reasoning("rs_1", ["New"]).text("msg_b", "Bye.").build()

    events = await collect_events(context, FakeStreamedResult(in_form("sdk", script)))

    # Only the workflow that came from the store: the reasoning workflow opened here is new.
    workflows_done = [
        (e.item.id, isinstance(e, ResumedItemDoneEvent))
        for e in events
        if e.type == "thread.item.done" and e.item.type == "workflow"
    ]
    assert len(workflows_done) == 2
    assert workflows_done[0] == ("wf_open", True)
    assert workflows_done[1][0] != "wf_open" and not workflows_done[1][1]
    ended = next(e for e in events if isinstance(e, ThreadItemDoneEvent) and e.item.id == "wf_open")
    assert json.loads(ended.item.model_dump_json())["workflow"]["summary"] is not None
    # The store's copy is only changed by the server saving that event, never behind its back.
    stored = await store.load_item(THREAD_ID, "wf_open", CONTEXT)
    assert isinstance(stored, WorkflowItem) and stored.workflow.summary is None


async def test_the_done_event_of_a_resumed_workflow_is_marked_when_a_tool_ends_it() -> None:
    store = MemoryStore()
    context = await memory_context(store)
    await store.add_thread_item(THREAD_ID, open_workflow(), CONTEXT)

    async def tool() -> None:
        await context.add_workflow_task(ThoughtTask(content="Checked"))
        await context.end_workflow()

    events = await collect_events(context, FakeStreamedResult([tool]))

    assert [e.type for e in events] == ["thread.item.updated", "thread.item.done"]
    assert done_events(events) == [("wf_open", True)]


async def test_a_resumed_workflow_still_open_is_saved_in_place() -> None:
    store = OwnStore([open_workflow()])
    thread = ThreadMetadata(id=THREAD_ID, created_at=datetime(2025, 1, 1))
    context = AgentContext(thread=thread, store=cast(Any, store), request_context=CONTEXT)

    async def tool() -> None:
        await context.add_workflow_task(ThoughtTask(content="Still going"))

    events = await collect_events(context, FakeStreamedResult([tool]))

    assert [e.type for e in events] == ["thread.item.updated"]
    assert store.calls == ["load_thread_items 2 desc", "save_item wf_open"]
