"""An Agents SDK run as ChatKit events: `stream_agent_response` and the hooks it calls."""

# The run is the other half of `AgentContext`: it routes the context's tool events and closes or
# resumes its workflow through members the context keeps private, rather than widening the public
# API that the reference defines for it.
# pyright: reportPrivateUsage=false

from __future__ import annotations

import asyncio
import importlib.metadata
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import suppress
from datetime import datetime
from typing import Any, TypeVar, cast

from agents import (
    AgentUpdatedStreamEvent,
    InputGuardrailTripwireTriggered,
    OutputGuardrailTripwireTriggered,
    RawResponsesStreamEvent,
    RunItemStreamEvent,
    RunResultStreaming,
)
from agents.models.fake_id import FAKE_RESPONSES_ID
from openai.types.responses import ResponseTextDeltaEvent
from openai.types.responses.response_output_text import (
    AnnotationContainerFileCitation,
    AnnotationFileCitation,
    AnnotationURLCitation,
)
from pydantic import BaseModel, TypeAdapter, ValidationError

from chatkit._json import json_object
from chatkit.agents._context import AgentContext, ToolStreamedEvent
from chatkit.logger import logger
from chatkit.store import NotFoundError, StoreItemType
from chatkit.types import (
    Annotation,
    AssistantMessageContent,
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartAnnotationAdded,
    AssistantMessageContentPartDone,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ClientToolCallItem,
    GeneratedImage,
    GeneratedImageItem,
    GeneratedImageUpdated,
    ThoughtTask,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
    Workflow,
    WorkflowItem,
    WorkflowTaskAdded,
    WorkflowTaskUpdated,
)
from chatkit.types.sources import FileSource, URLSource
from chatkit.widgets import Markdown, Text

_Citation = AnnotationURLCitation | AnnotationFileCitation | AnnotationContainerFileCitation
# Annotation events carry dicts or models of the event module's own classes (depending on the openai
# release); both are read into these classes so one set of hooks serves every form.
_CITATION = TypeAdapter[_Citation | None](_Citation | None)
_CITATION_TYPES = frozenset({"url_citation", "file_citation", "container_file_citation"})


class StreamingThoughtTracker(BaseModel):
    """The reasoning summary currently streaming into the workflow task at `index`."""

    item_id: str
    index: int
    task: ThoughtTask


class ResponseStreamConverter:
    """Overridable conversions from model output to ChatKit: citations and generated images."""

    def __init__(self, *, partial_images: int | None = None):
        """`partial_images`: how many partial images the image tool sends, to report progress."""
        self.partial_images = partial_images

    async def base64_image_to_url(
        self, image_id: str, base64_image: str, partial_image_index: int | None = None
    ) -> str:
        """Where the client loads a generated image from; by default an inline data URL."""
        return "data:image/png;base64," + base64_image

    def partial_image_index_to_progress(self, partial_image_index: int) -> float:
        """Progress (0 to 1) of the partial image at `partial_image_index`: index / count, 0 if the count is unknown."""
        if not self.partial_images:
            return 0.0
        return min(1.0, partial_image_index / self.partial_images)

    async def file_citation_to_annotation(self, file_citation: AnnotationFileCitation) -> Annotation | None:
        """A file citation as an annotation; citations without a file name are dropped."""
        if not file_citation.filename:
            return None
        source = FileSource(title=file_citation.filename, filename=file_citation.filename)
        return Annotation(source=source, index=file_citation.index)

    async def container_file_citation_to_annotation(
        self, container_file_citation: AnnotationContainerFileCitation
    ) -> Annotation | None:
        """A container file citation as a file annotation placed where the cited text ends."""
        if not container_file_citation.filename:
            return None
        filename = container_file_citation.filename
        return Annotation(source=FileSource(title=filename, filename=filename), index=container_file_citation.end_index)

    async def url_citation_to_annotation(self, url_citation: AnnotationURLCitation) -> Annotation | None:
        """A URL citation as a link annotation placed where the cited text ends."""
        return Annotation(
            source=URLSource(title=url_citation.title, url=url_citation.url), index=url_citation.end_index
        )


_DEFAULT_CONVERTER = ResponseStreamConverter()

# Text deltas are validated by the models' core validators directly: the same checks as the
# constructors, without BaseModel.__init__'s Python frame, which is a third of the cost per delta.
_text_delta = AssistantMessageContentPartTextDelta.__pydantic_validator__.validate_python
_item_update = ThreadItemUpdatedEvent.__pydantic_validator__.validate_python


async def stream_agent_response(
    context: AgentContext[Any],
    result: RunResultStreaming,
    *,
    converter: ResponseStreamConverter = _DEFAULT_CONVERTER,
) -> AsyncIterator[ThreadStreamEvent]:
    """The ChatKit events of a streamed Agents run, with the events its tools stream in order."""
    run = _RunTranslator(context, converter)
    await run.resume_workflow()
    sdk_queue = _sdk_event_queue(result)
    merged: asyncio.Queue[Any] = asyncio.Queue()
    if sdk_queue is not None:
        # Tool events ride the run's own event queue: they reach the client in causal order with the
        # model's output and while the tool still runs, and model events pay nothing for it.
        pending = context._attach(sdk_queue.put_nowait, settle=False)
    else:
        # Any other streamed result: the tools' events join its public events in a queue of ours.
        pending = context._attach(merged.put_nowait, settle=True)
    if sdk_queue is not None and _SDK_PASSES_CANCELLATION:
        events = cast(AsyncGenerator[Any, None], result.stream_events())
    else:
        events = _merged(result, merged)
    for event in pending:
        yield run.record(event)
    try:
        async for event in events:
            if type(event) is RawResponsesStreamEvent:
                data: Any = event.data
                # Text deltas are nearly all of a run's events: the SDK's own take the shortest path.
                if type(data) is ResponseTextDeltaEvent and run.message is not None:
                    update = _text_delta({"content_index": data.content_index, "delta": data.delta})
                    yield _item_update({"item_id": run.message.id, "update": update})
                    continue
            elif type(event) is ToolStreamedEvent:
                yield run.record(event.event)
                continue
            else:
                # Any other form of the public events: matched by their `type`, read field by field.
                kind = _field(event, "type")
                if kind == "run_item_stream_event":
                    run.run_item(_field(event, "item"))
                    continue
                if kind != "raw_response_event":
                    if kind != "agent_updated_stream_event":
                        logger.debug("Agents stream event %r has no ChatKit counterpart; skipped", kind)
                    continue
                data = _field(event, "data")
            async for converted in run.raw_event(data):
                yield converted
        if sdk_queue is not None:
            # A tool of a background task may have streamed after the run's last event.
            for event in _leftover_tool_events(sdk_queue):
                yield run.record(event)
    except (InputGuardrailTripwireTriggered, OutputGuardrailTripwireTriggered):
        # A tripped guardrail voids the whole answer: take back everything already shown.
        for item_id in run.produced:
            yield ThreadItemRemovedEvent(item_id=item_id)
        raise
    except (GeneratorExit, asyncio.CancelledError):
        # The consumer left (disconnect or aclose): stop the run rather than let it go on unseen.
        _cancel(result)
        raise
    finally:
        context._detach()
        await events.aclose()
    for converted in await run.finish():
        yield converted


def _cancel(result: Any) -> None:
    cancel = getattr(result, "cancel", None)
    if cancel is not None:
        cancel()


def _field(source: Any, name: str) -> Any:
    """`name` of an SDK event or item, whether a model, another object with that attribute, or a dict."""
    if isinstance(source, dict):
        return cast(dict[str, Any], source).get(name)
    return getattr(source, name, None)


def _sdk_event_queue(result: Any) -> asyncio.Queue[Any] | None:
    """The queue `stream_events()` reads, if `result` is an SDK run that streams it as it is."""
    # A private attribute: it is only used when it is what stream_events() reads, everything else
    # (other SDK releases, subclasses, stand-ins with the public surface only) takes the merged path.
    if not isinstance(result, RunResultStreaming):
        return None
    if type(result).stream_events is not _SDK_STREAM_EVENTS:
        return None
    queue = getattr(result, "_event_queue", None)
    return cast("asyncio.Queue[Any]", queue) if isinstance(queue, asyncio.Queue) else None


_SDK_STREAM_EVENTS = RunResultStreaming.stream_events


def _release(version: str) -> tuple[int, ...]:
    """The leading numbers of a version string: "0.6.5" and "0.6.5rc1" are (0, 6, 5)."""
    numbers: list[int] = []
    for piece in version.split(".")[:3]:
        digits = re.match(r"\d+", piece)
        if digits is None:
            break
        numbers.append(int(digits.group()))
    return tuple(numbers)


def _installed_sdk() -> tuple[int, ...]:
    try:
        return _release(importlib.metadata.version("openai-agents"))
    except importlib.metadata.PackageNotFoundError:
        return ()


# SDK releases before 0.6.5 swallow a cancellation of the task reading stream_events() and then wait
# for the run to finish: there a task of ours reads it, so a consumer that leaves still stops the run.
_SDK_PASSES_CANCELLATION = _installed_sdk() >= (0, 6, 5)


def _leftover_tool_events(queue: asyncio.Queue[Any]) -> list[ThreadStreamEvent]:
    events: list[ThreadStreamEvent] = []
    while not queue.empty():
        item = queue.get_nowait()
        if type(item) is ToolStreamedEvent:
            events.append(item.event)
    return events


class _End:
    """The last entry of a merged stream, with the error that ended the run's stream, if any."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error


async def _merged(result: Any, queue: asyncio.Queue[Any]) -> AsyncGenerator[Any, None]:
    """The run's public events and the tools' events (put in `queue`) as one stream, in arrival order.

    A task reads `result.stream_events()` into the queue the tools write to; the stream ends with
    the run's own stream, raising what it raised.
    """

    async def pump() -> None:
        outcome = _End()
        try:
            async for event in result.stream_events():
                queue.put_nowait(event)
        except Exception as error:  # guardrail trips, model errors: raised again to our consumer
            outcome = _End(error)
        finally:
            queue.put_nowait(outcome)

    reader = asyncio.create_task(pump())
    try:
        while True:
            entry = await queue.get()
            if type(entry) is _End:
                if entry.error is not None:
                    raise entry.error
                return
            yield entry
    except (GeneratorExit, asyncio.CancelledError):
        # Before waiting for the reader below: the run's stream may only end once the run stops.
        _cancel(result)
        raise
    finally:
        if not reader.done():
            reader.cancel()
        with suppress(asyncio.CancelledError):
            await reader


TWidget = TypeVar("TWidget", Markdown, Text)


async def accumulate_text(
    events: AsyncIterator[RawResponsesStreamEvent | RunItemStreamEvent | AgentUpdatedStreamEvent],
    base_widget: TWidget,
) -> AsyncIterator[TWidget]:
    """States of `base_widget` as model text streams into its value, ending with `streaming` off."""
    text = base_widget.value
    yield base_widget
    async for event in events:
        if _field(event, "type") != "raw_response_event":
            continue
        data = _field(event, "data")
        if _field(data, "type") == "response.output_text.delta":
            text += _field(data, "delta")
            yield base_widget.model_copy(update={"value": text})
    yield base_widget.model_copy(update={"value": text, "streaming": False})


class _RunTranslator:
    """State of one `stream_agent_response`: the message, workflow and image being streamed."""

    def __init__(self, context: AgentContext[Any], converter: ResponseStreamConverter) -> None:
        self.context = context
        self.converter = converter
        self.message: AssistantMessageItem | None = None
        self.produced: dict[str, None] = {}  # ordered set of item ids the client has been shown
        self._annotation_counts: dict[int, int] = {}  # annotations streamed per content part
        # Content parts whose finished text was sent, by message id and content index.
        self._parts_done: set[tuple[str, int]] = set()
        self._thought: StreamingThoughtTracker | None = None
        self._function_call: Any = None  # the model's latest function call (a model or a dict)
        # Each handler yields its events one at a time and changes the run's state (the open
        # workflow, its tasks) only as far as the events already taken show it.
        self._raw_handlers: dict[str, Callable[[Any], AsyncIterator[ThreadStreamEvent]]] = {
            "response.output_item.added": self._item_added,
            "response.output_item.done": self._item_done,
            "response.output_text.delta": self._text_delta,
            "response.content_part.added": self._part_added,
            "response.output_text.done": self._text_done,
            "response.content_part.done": self._part_done,
            "response.output_text.annotation.added": self._annotation_added,
            "response.reasoning_summary_text.delta": self._thought_delta,
            "response.reasoning_summary_text.done": self._thought_done,
            "response.image_generation_call.partial_image": self._partial_image,
        }

    def record(self, event: ThreadStreamEvent) -> ThreadStreamEvent:
        if isinstance(event, (ThreadItemAddedEvent, ThreadItemDoneEvent)):
            self.produced[event.item.id] = None
        return event

    async def resume_workflow(self) -> None:
        """Pick up a workflow the previous turn left open (possibly behind the client tool call ending it)."""
        context = self.context
        if context.workflow_item is not None:
            return
        try:
            page = await context.store.load_thread_items(context.thread.id, None, 2, "desc", context.request_context)
        except NotFoundError:
            return  # a thread not saved yet has nothing to resume
        recent = page.data
        if recent and recent[0].type == "client_tool_call":
            recent = recent[1:]
        if recent and isinstance(recent[0], WorkflowItem) and recent[0].workflow.summary is None:
            context._resume_workflow(recent[0])

    async def raw_event(self, data: Any) -> AsyncIterator[ThreadStreamEvent]:
        event_type = _field(data, "type")
        handler = self._raw_handlers.get(event_type) if isinstance(event_type, str) else None
        if handler is None:
            logger.debug("Responses stream event %r has no ChatKit counterpart; skipped", event_type)
            return
        async for event in handler(data):
            yield self.record(event)

    def run_item(self, item: Any) -> None:
        """Note the function call behind a tool call item: a client tool call takes its ids."""
        if _field(item, "type") != "tool_call_item":
            return
        raw = _field(item, "raw_item")
        if _field(raw, "type") == "function_call":
            self._function_call = raw

    async def finish(self) -> list[ThreadStreamEvent]:
        """Persist a workflow left open for the next turn, then end the turn on a client tool call."""
        context = self.context
        workflow = context.workflow_item
        if workflow is not None and workflow.workflow.tasks:
            if workflow.id == context._resumed_workflow_id:
                await context.store.save_item(context.thread.id, workflow, context.request_context)
            else:
                await context.store.add_thread_item(context.thread.id, workflow, context.request_context)
        tool_call = context.client_tool_call
        if tool_call is None:
            return []
        context.client_tool_call = None
        call = self._function_call
        item = ClientToolCallItem(
            id=self._item_id(_field(call, "id"), "tool_call"),
            thread_id=context.thread.id,
            created_at=datetime.now(),
            call_id=self._item_id(_field(call, "call_id"), "tool_call"),
            name=tool_call.name,
            arguments=tool_call.arguments,
        )
        return [self.record(ThreadItemDoneEvent(item=item))]

    def _item_id(self, responses_id: str | None, kind: StoreItemType) -> str:
        # Providers without Responses ids give every item the same placeholder: ids must stay unique.
        if responses_id and responses_id != FAKE_RESPONSES_ID:
            return responses_id
        return self.context.generate_id(kind)

    def _update(self, item_id: str, update: Any) -> ThreadItemUpdatedEvent:
        return ThreadItemUpdatedEvent(item_id=item_id, update=update)

    # -- output items ------------------------------------------------------------------------

    async def _item_added(self, data: Any) -> AsyncIterator[ThreadStreamEvent]:
        item = _field(data, "item")
        kind = _field(item, "type")
        if kind == "message":
            ended = self._end_workflow()
            if ended is not None:
                yield ended
            self.message = AssistantMessageItem(
                id=self._item_id(_field(item, "id"), "message"),
                thread_id=self.context.thread.id,
                created_at=datetime.now(),
                content=[],
            )
            self._annotation_counts = {}
            yield ThreadItemAddedEvent(item=self.message.model_copy(deep=True))
        elif kind == "image_generation_call":
            image_item = GeneratedImageItem(
                id=self.context.generate_id("message"), thread_id=self.context.thread.id, created_at=datetime.now()
            )
            self.context.generated_image_item = image_item
            yield ThreadItemAddedEvent(item=image_item.model_copy(deep=True))
        elif kind not in ("function_call", "reasoning"):
            logger.debug("Output item kind %r has no ChatKit counterpart; skipped", kind)

    async def _item_done(self, data: Any) -> AsyncIterator[ThreadStreamEvent]:
        item = _field(data, "item")
        kind = _field(item, "type")
        if kind == "message":
            message = self.message
            if message is None:
                # A finished message whose start was not streamed (a replayed or pre-built stream).
                message = AssistantMessageItem(
                    id=self._item_id(_field(item, "id"), "message"),
                    thread_id=self.context.thread.id,
                    created_at=datetime.now(),
                    content=[],
                )
            parts: list[Any] = _field(item, "content") or []
            content = [await self._final_content(index, part) for index, part in enumerate(parts)]
            self.message = None
            yield ThreadItemDoneEvent(item=message.model_copy(update={"content": content}))
        elif kind == "image_generation_call":
            image_item = self.context.generated_image_item
            result = _field(item, "result")
            if image_item is None or not result:
                return
            image_id = _field(item, "id")
            url = await self.converter.base64_image_to_url(image_id, result)
            self.context.generated_image_item = None
            image = GeneratedImage(id=image_id, url=url)
            yield ThreadItemDoneEvent(item=image_item.model_copy(update={"image": image}))
        elif kind == "function_call":
            self._function_call = item

    async def _final_content(self, index: int, part: Any) -> AssistantMessageContent:
        if _field(part, "type") == "refusal":
            return AssistantMessageContent(text=_field(part, "refusal"))
        # Converted again from the finished part, so the stored message has exactly its citations.
        raw_annotations: list[Any] = _field(part, "annotations") or []
        annotations = [a for raw in raw_annotations if (a := await self._convert_citation(raw)) is not None]
        return AssistantMessageContent(text=_field(part, "text"), annotations=annotations)

    # -- message content ---------------------------------------------------------------------

    def _message_id(self, data: Any) -> str:
        """The id of the message a content event belongs to: the streaming one, else the event's own."""
        # Content events of a message whose `output_item.added` was not seen keep their Responses id.
        return self.message.id if self.message is not None else _field(data, "item_id")

    async def _text_delta(self, data: Any) -> AsyncIterator[ThreadStreamEvent]:
        update = _text_delta({"content_index": _field(data, "content_index"), "delta": _field(data, "delta")})
        yield _item_update({"item_id": self._message_id(data), "update": update})

    async def _part_added(self, data: Any) -> AsyncIterator[ThreadStreamEvent]:
        part = _field(data, "part")
        text = _field(part, "text") if _field(part, "type") == "output_text" else ""
        update = AssistantMessageContentPartAdded(
            content_index=_field(data, "content_index"), content=AssistantMessageContent(text=text)
        )
        yield self._update(self._message_id(data), update)

    async def _text_done(self, data: Any) -> AsyncIterator[ThreadStreamEvent]:
        for event in self._part_finished(data, _field(data, "text")):
            yield event

    async def _part_done(self, data: Any) -> AsyncIterator[ThreadStreamEvent]:
        # Refusals are not streamed as text: they arrive whole with the finished message.
        part = _field(data, "part")
        if _field(part, "type") == "output_text":
            for event in self._part_finished(data, _field(part, "text")):
                yield event

    def _part_finished(self, data: Any, text: str) -> list[ThreadStreamEvent]:
        """The part's done update, once: the Responses API ends a text part with both
        `output_text.done` and `content_part.done`, other providers with only one of them."""
        message_id, content_index = self._message_id(data), _field(data, "content_index")
        if (message_id, content_index) in self._parts_done:
            return []
        self._parts_done.add((message_id, content_index))
        content = AssistantMessageContent(text=text)
        return [self._update(message_id, AssistantMessageContentPartDone(content_index=content_index, content=content))]

    async def _annotation_added(self, data: Any) -> AsyncIterator[ThreadStreamEvent]:
        annotation = await self._convert_citation(_field(data, "annotation"))
        if annotation is None:
            return
        content_index = _field(data, "content_index")
        annotation_index = self._annotation_counts.get(content_index, 0)
        self._annotation_counts[content_index] = annotation_index + 1
        update = AssistantMessageContentPartAnnotationAdded(
            content_index=content_index, annotation_index=annotation_index, annotation=annotation
        )
        yield self._update(self._message_id(data), update)

    async def _convert_citation(self, raw: Any) -> Annotation | None:
        if isinstance(raw, BaseModel):
            fields = raw.model_dump()
        else:
            fields = json_object(raw) or json_object(getattr(raw, "__dict__", None))
        if fields is None or fields.get("type") not in _CITATION_TYPES:
            return None
        try:
            citation = _CITATION.validate_python(fields)
        except ValidationError:
            logger.debug("Malformed %s annotation skipped", fields.get("type"), exc_info=True)
            return None
        if isinstance(citation, AnnotationURLCitation):
            return await self.converter.url_citation_to_annotation(citation)
        if isinstance(citation, AnnotationFileCitation):
            return await self.converter.file_citation_to_annotation(citation)
        if isinstance(citation, AnnotationContainerFileCitation):
            return await self.converter.container_file_citation_to_annotation(citation)
        return None

    # -- reasoning ---------------------------------------------------------------------------

    def _open_workflow(self) -> ThreadItemAddedEvent | None:
        """Open a reasoning workflow if none is open; the event announcing it (its tasks still empty)."""
        context = self.context
        if context.workflow_item is not None:
            return None
        context.workflow_item = WorkflowItem(
            id=context.generate_id("workflow"),
            thread_id=context.thread.id,
            created_at=datetime.now(),
            workflow=Workflow(type="reasoning", tasks=[]),
        )
        return ThreadItemAddedEvent(item=context.workflow_item.model_copy(deep=True))

    def _end_workflow(self) -> ThreadStreamEvent | None:
        self._thought = None
        return self.context._close_workflow(None, False)

    def _add_thought(self, content: str) -> tuple[int, ThreadStreamEvent]:
        """Append a thought to the open workflow; its index and the update announcing it (with its own copy)."""
        workflow = self.context.workflow_item
        assert workflow is not None  # opened by the caller just before
        task = ThoughtTask(content=content)
        workflow.workflow.tasks.append(task)
        index = len(workflow.workflow.tasks) - 1
        return index, self._update(workflow.id, WorkflowTaskAdded(task_index=index, task=task.model_copy()))

    async def _thought_delta(self, data: Any) -> AsyncIterator[ThreadStreamEvent]:
        thought = self._thought
        item_id, summary_index, delta = _field(data, "item_id"), _field(data, "summary_index"), _field(data, "delta")
        if thought is None:
            # Only a reasoning item's first summary streams; later ones arrive whole on their done event.
            if summary_index != 0:
                return
            opened = self._open_workflow()
            if opened is not None:
                yield opened
            index, added = self._add_thought(delta)
            self._thought = StreamingThoughtTracker(item_id=item_id, index=index, task=ThoughtTask(content=delta))
            yield added
        elif thought.item_id == item_id and summary_index == 0:
            for event in self._set_thought(thought, thought.task.content + delta):
                yield event

    async def _thought_done(self, data: Any) -> AsyncIterator[ThreadStreamEvent]:
        thought = self._thought
        text = _field(data, "text")
        if thought is not None and thought.item_id == _field(data, "item_id") and _field(data, "summary_index") == 0:
            self._thought = None
            for event in self._set_thought(thought, text):
                yield event
            return
        opened = self._open_workflow()
        if opened is not None:
            yield opened
        yield self._add_thought(text)[1]

    def _set_thought(self, thought: StreamingThoughtTracker, content: str) -> list[ThreadStreamEvent]:
        workflow = self.context.workflow_item
        if workflow is None:
            return []
        thought.task = ThoughtTask(content=content)
        workflow.workflow.tasks[thought.index] = thought.task.model_copy()
        update = WorkflowTaskUpdated(task_index=thought.index, task=thought.task.model_copy())
        return [self._update(workflow.id, update)]

    # -- images ------------------------------------------------------------------------------

    async def _partial_image(self, data: Any) -> AsyncIterator[ThreadStreamEvent]:
        image_item = self.context.generated_image_item
        if image_item is None:
            return
        index, image_id = _field(data, "partial_image_index"), _field(data, "item_id")
        url = await self.converter.base64_image_to_url(image_id, _field(data, "partial_image_b64"), index)
        update = GeneratedImageUpdated(
            image=GeneratedImage(id=image_id, url=url),
            progress=self.converter.partial_image_index_to_progress(index),
        )
        yield self._update(image_item.id, update)
