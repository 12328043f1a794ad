"""Stream events: what a streaming response sends, one `data:` frame each."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from chatkit.errors import ErrorCode
from chatkit.icons import IconName
from chatkit.types.items import Annotation, AssistantMessageContent, GeneratedImage, ThreadItem
from chatkit.types.threads import Thread
from chatkit.types.workflows import Task
from chatkit.widgets import WidgetComponent, WidgetRoot

# -- updates carried by thread.item.updated ----------------------------------------------------


class AssistantMessageContentPartAdded(BaseModel):
    """A new content part starts in an assistant message."""

    type: Literal["assistant_message.content_part.added"] = "assistant_message.content_part.added"
    content_index: int
    content: AssistantMessageContent


class AssistantMessageContentPartTextDelta(BaseModel):
    """Text appended to a content part."""

    type: Literal["assistant_message.content_part.text_delta"] = "assistant_message.content_part.text_delta"
    content_index: int
    delta: str


class AssistantMessageContentPartAnnotationAdded(BaseModel):
    """A citation added to a content part."""

    type: Literal["assistant_message.content_part.annotation_added"] = "assistant_message.content_part.annotation_added"
    content_index: int
    annotation_index: int
    annotation: Annotation


class AssistantMessageContentPartDone(BaseModel):
    """A content part is final."""

    type: Literal["assistant_message.content_part.done"] = "assistant_message.content_part.done"
    content_index: int
    content: AssistantMessageContent


class WidgetStreamingTextValueDelta(BaseModel):
    """Text appended to a `Text` or `Markdown` component of a widget."""

    type: Literal["widget.streaming_text.value_delta"] = "widget.streaming_text.value_delta"
    component_id: str
    delta: str
    done: bool


class WidgetRootUpdated(BaseModel):
    """The whole widget is replaced."""

    type: Literal["widget.root.updated"] = "widget.root.updated"
    widget: WidgetRoot


class WidgetComponentUpdated(BaseModel):
    """One component of a widget is replaced."""

    type: Literal["widget.component.updated"] = "widget.component.updated"
    component_id: str
    component: WidgetComponent


class WorkflowTaskAdded(BaseModel):
    """A task appended to a workflow."""

    type: Literal["workflow.task.added"] = "workflow.task.added"
    task_index: int
    task: Task


class WorkflowTaskUpdated(BaseModel):
    """A workflow task replaced."""

    type: Literal["workflow.task.updated"] = "workflow.task.updated"
    task_index: int
    task: Task


class GeneratedImageUpdated(BaseModel):
    """A generated image's current state, with progress from 0 to 1."""

    type: Literal["generated_image.updated"] = "generated_image.updated"
    image: GeneratedImage
    progress: float | None = None


ThreadItemUpdate = (
    AssistantMessageContentPartAdded
    | AssistantMessageContentPartTextDelta
    | AssistantMessageContentPartAnnotationAdded
    | AssistantMessageContentPartDone
    | WidgetStreamingTextValueDelta
    | WidgetComponentUpdated
    | WidgetRootUpdated
    | WorkflowTaskAdded
    | WorkflowTaskUpdated
    | GeneratedImageUpdated
)
"""Any update a `thread.item.updated` event carries."""

# -- events ------------------------------------------------------------------------------------


class ThreadCreatedEvent(BaseModel):
    """A thread was created."""

    type: Literal["thread.created"] = "thread.created"
    thread: Thread


class ThreadUpdatedEvent(BaseModel):
    """A thread's title, status or metadata changed."""

    type: Literal["thread.updated"] = "thread.updated"
    thread: Thread


class ThreadItemAddedEvent(BaseModel):
    """An item starts streaming."""

    type: Literal["thread.item.added"] = "thread.item.added"
    item: ThreadItem


class ThreadItemUpdatedEvent(BaseModel):
    """A streaming item changed."""

    type: Literal["thread.item.updated"] = "thread.item.updated"
    item_id: str
    update: ThreadItemUpdate


class ThreadItemUpdated(ThreadItemUpdatedEvent):
    """Former name of `ThreadItemUpdatedEvent`, kept for code written against it."""


class ThreadItemDoneEvent(BaseModel):
    """An item is final and stored."""

    type: Literal["thread.item.done"] = "thread.item.done"
    item: ThreadItem


class ThreadItemRemovedEvent(BaseModel):
    """An item was removed from the thread."""

    type: Literal["thread.item.removed"] = "thread.item.removed"
    item_id: str


class ThreadItemReplacedEvent(BaseModel):
    """An item was replaced by a new version."""

    type: Literal["thread.item.replaced"] = "thread.item.replaced"
    item: ThreadItem


class StreamOptions(BaseModel):
    """How the client may treat this stream."""

    allow_cancel: bool


class StreamOptionsEvent(BaseModel):
    """First event of every response: the stream's options."""

    type: Literal["stream_options"] = "stream_options"
    stream_options: StreamOptions


class ProgressUpdateEvent(BaseModel):
    """A transient status line shown while the assistant works."""

    type: Literal["progress_update"] = "progress_update"
    icon: IconName | None = None
    text: str


class ClientEffectEvent(BaseModel):
    """Asks the client to run a named effect of the integrator's."""

    type: Literal["client_effect"] = "client_effect"
    name: str
    data: dict[str, Any] = Field(default_factory=dict)


class ErrorEvent(BaseModel):
    """The response failed; `allow_retry` offers the user a retry button."""

    type: Literal["error"] = "error"
    code: ErrorCode | Literal["custom"] = "custom"
    message: str | None = None
    allow_retry: bool = False


class NoticeEvent(BaseModel):
    """A message shown to the user outside the thread."""

    type: Literal["notice"] = "notice"
    level: Literal["info", "warning", "danger"]
    message: str
    title: str | None = None


ThreadStreamEvent = Annotated[
    ThreadCreatedEvent
    | ThreadUpdatedEvent
    | ThreadItemDoneEvent
    | ThreadItemAddedEvent
    | ThreadItemUpdatedEvent
    | ThreadItemRemovedEvent
    | ThreadItemReplacedEvent
    | StreamOptionsEvent
    | ProgressUpdateEvent
    | ClientEffectEvent
    | ErrorEvent
    | NoticeEvent,
    Field(discriminator="type"),
]
"""Any stream event, told apart by `type`."""
