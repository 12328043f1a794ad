"""An Agents SDK run as ChatKit events: `stream_agent_response` and the hooks it calls."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
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
from openai.types.responses.response_output_text import (
    AnnotationContainerFileCitation,
    AnnotationFileCitation,
    AnnotationURLCitation,
)
from pydantic import BaseModel, TypeAdapter, ValidationError

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
        """Progress (0 to 1) after the partial image at `partial_image_index`; 0 if the count is unknown."""
        if not self.partial_images:
            return 0.0
        return min(1.0, (partial_image_index + 1) / (self.partial_images + 1))

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
    # Tool events travel in the run's own event queue (a private attribute of the pinned SDK): they
    # reach the client in causal order with the model's output and while the tool still runs, and
    # model events pay nothing for it, where merging two streams would add a task hop to every delta.
    for event in context._attach(result._event_queue):
        yield run.record(event)
    sdk_events = cast(AsyncGenerator[Any, None], result.stream_events())
    try:
        async for event in sdk_events:
            if type(event) is RawResponsesStreamEvent:
                data: Any = event.data
                # Text deltas are nearly all of a run's events: they take the shortest path.
                if data.type == "response.output_text.delta" and run.message is not None:
                    update = _text_delta({"content_index": data.content_index, "delta": data.delta})
                    yield _item_update({"item_id": run.message.id, "update": update})
                    continue
                for converted in await run.raw_event(data):
                    yield converted
            elif type(event) is ToolStreamedEvent:
                yield run.record(event.event)
            elif not isinstance(event, (RunItemStreamEvent, AgentUpdatedStreamEvent)):
                logger.debug("Agents stream event %r has no ChatKit counterpart; skipped", type(event).__name__)
    except (InputGuardrailTripwireTriggered, OutputGuardrailTripwireTriggered):
        # A tripped guardrail voids the whole answer: take back everything already shown.
        for item_id in run.produced:
            yield ThreadItemRemovedEvent(item_id=item_id)
        raise
    except (GeneratorExit, asyncio.CancelledError):
        # The consumer left (disconnect or aclose): stop the run rather than let it go on unseen.
        result.cancel()
        await sdk_events.aclose()
        raise
    finally:
        context._detach()
    for converted in await run.finish():
        yield converted


TWidget = TypeVar("TWidget", Markdown, Text)


async def accumulate_text(
    events: AsyncIterator[RawResponsesStreamEvent | RunItemStreamEvent | AgentUpdatedStreamEvent],
    base_widget: TWidget,
) -> AsyncIterator[TWidget]:
    """States of `base_widget` as model text streams into its value, ending with `streaming` off."""
    text = base_widget.value
    yield base_widget
    async for event in events:
        if isinstance(event, RawResponsesStreamEvent) and event.data.type == "response.output_text.delta":
            text += event.data.delta
            yield base_widget.model_copy(update={"value": text})
    yield base_widget.model_copy(update={"value": text, "streaming": False})


class _RunTranslator:
    """State of one `stream_agent_response`: the message, workflow and image being streamed."""

    def __init__(self, context: AgentContext[Any], converter: ResponseStreamConverter) -> None:
        self.context = context
        self.converter = converter
        self.message: AssistantMessageItem | None = None
        self.produced: dict[str, None] = {}  # ordered set of item ids the client has been shown
        self._annotations: dict[int, list[Annotation]] = {}
        self._thought: StreamingThoughtTracker | None = None
        self._function_call: Any = None
        self._resumed_workflow_id: str | None = None
        self._raw_handlers: dict[str, Callable[[Any], Awaitable[list[ThreadStreamEvent]]]] = {
            "response.output_item.added": self._item_added,
            "response.output_item.done": self._item_done,
            "response.content_part.added": self._part_added,
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
            context.workflow_item = recent[0]
            self._resumed_workflow_id = recent[0].id

    async def raw_event(self, data: Any) -> list[ThreadStreamEvent]:
        event_type = getattr(data, "type", None)
        handler = self._raw_handlers.get(event_type) if isinstance(event_type, str) else None
        if handler is None:
            logger.debug("Responses stream event %r has no ChatKit counterpart; skipped", event_type)
            return []
        return [self.record(event) for event in await handler(data)]

    async def finish(self) -> list[ThreadStreamEvent]:
        """Persist a workflow left open for the next turn, then end the turn on a client tool call."""
        context = self.context
        workflow = context.workflow_item
        if workflow is not None and workflow.workflow.tasks:
            if workflow.id == self._resumed_workflow_id:
                await context.store.save_item(context.thread.id, workflow, context.request_context)
            else:
                await context.store.add_thread_item(context.thread.id, workflow, context.request_context)
        tool_call = context.client_tool_call
        if tool_call is None:
            return []
        context.client_tool_call = None
        call = self._function_call
        item = ClientToolCallItem(
            id=self._item_id(getattr(call, "id", None), "tool_call"),
            thread_id=context.thread.id,
            created_at=datetime.now(),
            call_id=self._item_id(getattr(call, "call_id", None), "tool_call"),
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

    async def _item_added(self, data: Any) -> list[ThreadStreamEvent]:
        item = data.item
        kind = getattr(item, "type", None)
        if kind == "message":
            events: list[ThreadStreamEvent] = []
            ended = self._end_workflow()
            if ended is not None:
                events.append(ended)
            self.message = AssistantMessageItem(
                id=self._item_id(item.id, "message"),
                thread_id=self.context.thread.id,
                created_at=datetime.now(),
                content=[],
            )
            self._annotations = {}
            events.append(ThreadItemAddedEvent(item=self.message.model_copy()))
            return events
        if kind == "image_generation_call":
            image_item = GeneratedImageItem(
                id=self.context.generate_id("message"), thread_id=self.context.thread.id, created_at=datetime.now()
            )
            self.context.generated_image_item = image_item
            return [ThreadItemAddedEvent(item=image_item.model_copy())]
        if kind not in ("function_call", "reasoning"):
            logger.debug("Output item kind %r has no ChatKit counterpart; skipped", kind)
        return []

    async def _item_done(self, data: Any) -> list[ThreadStreamEvent]:
        item = data.item
        kind = getattr(item, "type", None)
        if kind == "message" and self.message is not None:
            content = [await self._final_content(index, part) for index, part in enumerate(item.content)]
            done = self.message.model_copy(update={"content": content})
            self.message = None
            return [ThreadItemDoneEvent(item=done)]
        if kind == "image_generation_call":
            image_item = self.context.generated_image_item
            if image_item is None or not item.result:
                return []
            url = await self.converter.base64_image_to_url(item.id, item.result)
            self.context.generated_image_item = None
            done = image_item.model_copy(update={"image": GeneratedImage(id=item.id, url=url)})
            return [ThreadItemDoneEvent(item=done)]
        if kind == "function_call":
            self._function_call = item
        return []

    async def _final_content(self, index: int, part: Any) -> AssistantMessageContent:
        if part.type == "refusal":
            return AssistantMessageContent(text=part.refusal)
        streamed = self._annotations.get(index)
        if streamed is None:
            streamed = [a for raw in part.annotations if (a := await self._convert_citation(raw)) is not None]
        return AssistantMessageContent(text=part.text, annotations=list(streamed))

    # -- message content ---------------------------------------------------------------------

    async def _part_added(self, data: Any) -> list[ThreadStreamEvent]:
        if self.message is None:
            return []
        text = data.part.text if data.part.type == "output_text" else ""
        update = AssistantMessageContentPartAdded(
            content_index=data.content_index, content=AssistantMessageContent(text=text)
        )
        return [self._update(self.message.id, update)]

    async def _part_done(self, data: Any) -> list[ThreadStreamEvent]:
        # Refusals are not streamed as text: they arrive whole with the finished message.
        if self.message is None or data.part.type != "output_text":
            return []
        update = AssistantMessageContentPartDone(
            content_index=data.content_index, content=AssistantMessageContent(text=data.part.text)
        )
        return [self._update(self.message.id, update)]

    async def _annotation_added(self, data: Any) -> list[ThreadStreamEvent]:
        if self.message is None:
            return []
        annotation = await self._convert_citation(data.annotation)
        if annotation is None:
            return []
        annotations = self._annotations.setdefault(data.content_index, [])
        annotations.append(annotation)
        update = AssistantMessageContentPartAnnotationAdded(
            content_index=data.content_index, annotation_index=len(annotations) - 1, annotation=annotation
        )
        return [self._update(self.message.id, update)]

    async def _convert_citation(self, raw: Any) -> Annotation | None:
        fields = raw.model_dump() if isinstance(raw, BaseModel) else raw
        if not isinstance(fields, dict) or fields.get("type") not in _CITATION_TYPES:
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

    def _workflow(self, events: list[ThreadStreamEvent]) -> WorkflowItem:
        """The open workflow, opening a reasoning workflow (announced in `events`) if there is none."""
        context = self.context
        if context.workflow_item is None:
            context.workflow_item = WorkflowItem(
                id=context.generate_id("workflow"),
                thread_id=context.thread.id,
                created_at=datetime.now(),
                workflow=Workflow(type="reasoning", tasks=[]),
            )
            events.append(ThreadItemAddedEvent(item=context.workflow_item.model_copy(deep=True)))
        return context.workflow_item

    def _end_workflow(self) -> ThreadStreamEvent | None:
        self._thought = None
        return self.context._close_workflow(None, False)

    async def _thought_delta(self, data: Any) -> list[ThreadStreamEvent]:
        events: list[ThreadStreamEvent] = []
        thought = self._thought
        if thought is None:
            # Only a reasoning item's first summary streams; later ones arrive whole on their done event.
            if data.summary_index != 0:
                return events
            workflow = self._workflow(events)
            task = ThoughtTask(content=data.delta)
            workflow.workflow.tasks.append(task)
            index = len(workflow.workflow.tasks) - 1
            self._thought = StreamingThoughtTracker(item_id=data.item_id, index=index, task=task)
            events.append(self._update(workflow.id, WorkflowTaskAdded(task_index=index, task=task)))
            return events
        if thought.item_id == data.item_id and data.summary_index == 0:
            events.extend(self._set_thought(thought, thought.task.content + data.delta))
        return events

    async def _thought_done(self, data: Any) -> list[ThreadStreamEvent]:
        thought = self._thought
        if thought is not None and thought.item_id == data.item_id and data.summary_index == 0:
            self._thought = None
            return self._set_thought(thought, data.text)
        events: list[ThreadStreamEvent] = []
        workflow = self._workflow(events)
        task = ThoughtTask(content=data.text)
        workflow.workflow.tasks.append(task)
        index = len(workflow.workflow.tasks) - 1
        events.append(self._update(workflow.id, WorkflowTaskAdded(task_index=index, task=task)))
        return events

    def _set_thought(self, thought: StreamingThoughtTracker, content: str) -> list[ThreadStreamEvent]:
        workflow = self.context.workflow_item
        if workflow is None:
            return []
        task = ThoughtTask(content=content)
        thought.task = task
        workflow.workflow.tasks[thought.index] = task
        return [self._update(workflow.id, WorkflowTaskUpdated(task_index=thought.index, task=task))]

    # -- images ------------------------------------------------------------------------------

    async def _partial_image(self, data: Any) -> list[ThreadStreamEvent]:
        image_item = self.context.generated_image_item
        if image_item is None:
            return []
        index = data.partial_image_index
        url = await self.converter.base64_image_to_url(data.item_id, data.partial_image_b64, index)
        update = GeneratedImageUpdated(
            image=GeneratedImage(id=data.item_id, url=url),
            progress=self.converter.partial_image_index_to_progress(index),
        )
        return [self._update(image_item.id, update)]
