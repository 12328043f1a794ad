"""`AgentContext`: what tools of an agent run see of the ChatKit thread, and how they stream to it."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, PrivateAttr, SkipValidation

from chatkit.icons import IconName
from chatkit.server import stream_widget
from chatkit.server.resumed import ResumedItemDoneEvent
from chatkit.store import Store, StoreItemType
from chatkit.types import (
    CustomSummary,
    DurationSummary,
    GeneratedImageItem,
    ProgressUpdateEvent,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    Workflow,
    WorkflowItem,
    WorkflowTaskAdded,
    WorkflowTaskUpdated,
)
from chatkit.types.workflows import Task
from chatkit.widgets import WidgetRoot

TContext = TypeVar("TContext")


class ClientToolCall(BaseModel):
    """A tool call the client should run; set it on `AgentContext.client_tool_call` from a tool."""

    name: str
    arguments: dict[str, Any]


@dataclass(slots=True)
class ToolStreamedEvent:
    """A ChatKit event a tool streamed, travelling with the run's own events to keep its place in order."""

    event: ThreadStreamEvent


class AgentContext(BaseModel, Generic[TContext]):
    """The run context of a ChatKit agent run: thread, store, request context and streaming helpers."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    thread: ThreadMetadata
    # Not validated, as in the reference: programs and tests hand in stand-ins (mocks, adapters) that
    # only offer the methods they use.
    store: SkipValidation[Store[TContext]]
    request_context: TContext
    previous_response_id: str | None = None
    client_tool_call: ClientToolCall | None = None
    workflow_item: WorkflowItem | None = None
    generated_image_item: GeneratedImageItem | None = None

    # Events streamed while no run is attached, and where the attached run takes them.
    _pending: deque[ThreadStreamEvent] = PrivateAttr()
    _sink: Callable[[ToolStreamedEvent], None] | None = PrivateAttr()
    # With a merged stream (see _stream), a tool's event is queued only after the loop turned once:
    # the task reading the result first takes what the run already produced, which stays ahead.
    _settle: bool = PrivateAttr()
    # The workflow the previous turn left open and this one resumed from the store: its done event
    # is marked, so the server saves it in place instead of adding it a second time.
    _resumed_workflow_id: str | None = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        """Start with nothing streamed, no run attached and no resumed workflow."""
        self._pending = deque()
        self._sink = None
        self._settle = False
        self._resumed_workflow_id = None

    def generate_id(self, type: StoreItemType, thread: ThreadMetadata | None = None) -> str:
        """A fresh id from the store, for an item of `thread` (default: this context's thread)."""
        if type == "thread":
            return self.store.generate_thread_id(self.request_context)
        return self.store.generate_item_id(type, thread or self.thread, self.request_context)

    async def stream(self, event: ThreadStreamEvent) -> None:
        """Send `event` to the client as part of the running response, in order with the model's output."""
        if self._sink is not None and self._settle:
            await asyncio.sleep(0)
        # Read again: the run may have ended while this tool waited.
        if self._sink is not None:
            self._sink(ToolStreamedEvent(event))
        else:
            self._pending.append(event)

    async def stream_progress(self, icon: IconName | None, text: str) -> None:
        """Show a transient progress line (`ProgressUpdateEvent`)."""
        await self.stream(ProgressUpdateEvent(icon=icon, text=text))

    async def stream_widget(
        self,
        widget: WidgetRoot | AsyncGenerator[WidgetRoot, None],
        copy_text: str | None = None,
    ) -> None:
        """Show a widget, or stream the successive states of one, as a widget item of this thread."""
        async for event in stream_widget(self.thread, widget, copy_text, lambda kind: self.generate_id(kind)):
            await self.stream(event)

    async def start_workflow(self, workflow: Workflow) -> None:
        """Open a workflow; one without tasks is shown once its first task is added."""
        self.workflow_item = WorkflowItem(
            id=self.generate_id("workflow"), thread_id=self.thread.id, created_at=datetime.now(), workflow=workflow
        )
        if workflow.tasks:
            await self.stream(ThreadItemAddedEvent(item=self.workflow_item.model_copy(deep=True)))

    async def add_workflow_task(self, task: Task) -> None:
        """Append a task to the open workflow, opening a custom workflow if there is none."""
        if self.workflow_item is None:
            await self.start_workflow(Workflow(type="custom", tasks=[task]))
            return
        tasks = self.workflow_item.workflow.tasks
        tasks.append(task)
        if len(tasks) == 1:
            # The workflow was held back while empty (see start_workflow): this is its first appearance.
            await self.stream(ThreadItemAddedEvent(item=self.workflow_item.model_copy(deep=True)))
        else:
            update = WorkflowTaskAdded(task_index=len(tasks) - 1, task=task.model_copy())
            await self.stream(ThreadItemUpdatedEvent(item_id=self.workflow_item.id, update=update))

    async def update_workflow_task(self, task: Task, task_index: int) -> None:
        """Replace the task at `task_index` of the open workflow."""
        if self.workflow_item is None:
            raise ValueError("update_workflow_task needs an open workflow: call start_workflow first")
        self.workflow_item.workflow.tasks[task_index] = task
        update = WorkflowTaskUpdated(task_index=task_index, task=task.model_copy())
        await self.stream(ThreadItemUpdatedEvent(item_id=self.workflow_item.id, update=update))

    async def end_workflow(
        self, summary: CustomSummary | DurationSummary | None = None, expanded: bool = False
    ) -> None:
        """Close the open workflow (a duration summary unless one is given); nothing if none is open."""
        done = self._close_workflow(summary, expanded)
        if done is not None:
            await self.stream(done)

    def _close_workflow(
        self, summary: CustomSummary | DurationSummary | None, expanded: bool
    ) -> ThreadItemDoneEvent | None:
        item = self.workflow_item
        if item is None:
            return None
        workflow = item.workflow
        if summary is not None:
            workflow.summary = summary
        elif workflow.summary is None:
            workflow.summary = DurationSummary(duration=_seconds_since(item.created_at))
        workflow.expanded = expanded
        self.workflow_item = None
        if item.id != self._resumed_workflow_id:
            return ThreadItemDoneEvent(item=item.model_copy(deep=True))
        self._resumed_workflow_id = None
        return ResumedItemDoneEvent(item=item.model_copy(deep=True))

    def _resume_workflow(self, item: WorkflowItem) -> None:
        """Make `item`, an open workflow already in the store, the open workflow again."""
        # A copy: a store may hand out the very object it keeps.
        self.workflow_item = item.model_copy(deep=True)
        self._resumed_workflow_id = item.id

    def _attach(self, sink: Callable[[ToolStreamedEvent], None], *, settle: bool) -> list[ThreadStreamEvent]:
        """Route later `stream` calls into `sink`; returns what was streamed before."""
        self._sink = sink
        self._settle = settle
        pending = list(self._pending)
        self._pending.clear()
        return pending

    def _detach(self) -> None:
        """Stop routing into the run: later events wait for the next run."""
        self._sink = None
        self._settle = False


def _seconds_since(moment: datetime) -> int:
    now = datetime.now(moment.tzinfo) if moment.tzinfo is not None else datetime.now()
    return max(0, int((now - moment).total_seconds()))
