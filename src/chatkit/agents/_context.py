"""`AgentContext`: what tools of an agent run see of the ChatKit thread, and how they stream to it."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, PrivateAttr

from chatkit.icons import IconName
from chatkit.server import stream_widget
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
    """A ChatKit event a tool streamed, riding the run's own event queue to keep its place in order."""

    event: ThreadStreamEvent


class AgentContext(BaseModel, Generic[TContext]):
    """The run context of a ChatKit agent run: thread, store, request context and streaming helpers."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    thread: ThreadMetadata
    store: Store[TContext]
    request_context: TContext
    previous_response_id: str | None = None
    client_tool_call: ClientToolCall | None = None
    workflow_item: WorkflowItem | None = None
    generated_image_item: GeneratedImageItem | None = None

    # Events streamed while no run is attached, and the queue of the run that is.
    _pending: deque[ThreadStreamEvent] = PrivateAttr()
    _sink: asyncio.Queue[Any] | None = PrivateAttr()

    def model_post_init(self, context: Any, /) -> None:
        """Start with nothing streamed and no run attached."""
        self._pending = deque()
        self._sink = None

    def generate_id(self, type: StoreItemType, thread: ThreadMetadata | None = None) -> str:
        """A fresh id from the store, for an item of `thread` (default: this context's thread)."""
        if type == "thread":
            return self.store.generate_thread_id(self.request_context)
        return self.store.generate_item_id(type, thread or self.thread, self.request_context)

    async def stream(self, event: ThreadStreamEvent) -> None:
        """Send `event` to the client as part of the running response, in order with the model's output."""
        if self._sink is not None:
            self._sink.put_nowait(ToolStreamedEvent(event))
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
        return ThreadItemDoneEvent(item=item.model_copy(deep=True))

    def _attach(self, sink: asyncio.Queue[Any]) -> list[ThreadStreamEvent]:
        """Route later `stream` calls into `sink`; returns what was streamed before."""
        self._sink = sink
        pending = list(self._pending)
        self._pending.clear()
        return pending

    def _detach(self) -> None:
        """Stop routing into the run's queue: later events wait for the next run."""
        self._sink = None


def _seconds_since(moment: datetime) -> int:
    now = datetime.now(moment.tzinfo) if moment.tzinfo is not None else datetime.now()
    return max(0, int((now - moment).total_seconds()))
