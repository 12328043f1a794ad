"""Thread items: everything a thread holds, from user messages to widgets and workflows."""

from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field

from chatkit.types.attachments import Attachment
from chatkit.types.sources import EntitySource, FileSource, URLSource
from chatkit.types.workflows import Task, Workflow
from chatkit.widgets import WidgetRoot

# -- message content ---------------------------------------------------------------------------


class UserMessageTextContent(BaseModel):
    """Plain text typed by the user."""

    type: Literal["input_text"] = "input_text"
    text: str


class UserMessageTagContent(BaseModel):
    """An @-mention of an entity inside the user's text."""

    type: Literal["input_tag"] = "input_tag"
    id: str
    text: str
    data: dict[str, Any]
    group: str | None = None
    interactive: bool = False


UserMessageContent = Annotated[UserMessageTextContent | UserMessageTagContent, Field(discriminator="type")]
"""One part of a user message."""


class ToolChoice(BaseModel):
    """A tool the user picked in the composer."""

    id: str


class InferenceOptions(BaseModel):
    """Per-message choices the user made in the composer."""

    tool_choice: ToolChoice | None = None
    model: str | None = None


class Annotation(BaseModel):
    """A citation attached to assistant text; `index` is its position in the text."""

    type: Literal["annotation"] = "annotation"
    source: URLSource | FileSource | EntitySource
    index: int | None = None


class AssistantMessageContent(BaseModel):
    """One text part of an assistant message, with its citations."""

    annotations: list[Annotation] = Field(default_factory=list[Annotation])
    text: str
    type: Literal["output_text"] = "output_text"


# -- items -------------------------------------------------------------------------------------


class ThreadItemBase(BaseModel):
    """Fields shared by every thread item."""

    id: str
    thread_id: str
    created_at: datetime


class UserMessageItem(ThreadItemBase):
    """A message the user sent."""

    type: Literal["user_message"] = "user_message"
    content: list[UserMessageContent]
    attachments: list[Attachment] = Field(default_factory=list[Attachment])
    quoted_text: str | None = None
    inference_options: InferenceOptions


class AssistantMessageItem(ThreadItemBase):
    """A message the assistant wrote."""

    type: Literal["assistant_message"] = "assistant_message"
    content: list[AssistantMessageContent]


class ClientToolCallItem(ThreadItemBase):
    """A tool call the client runs; the turn pauses until its output arrives."""

    type: Literal["client_tool_call"] = "client_tool_call"
    status: Literal["pending", "completed"] = "pending"
    call_id: str
    name: str
    arguments: dict[str, Any]
    output: Any | None = None


class WidgetItem(ThreadItemBase):
    """A widget shown in the thread."""

    type: Literal["widget"] = "widget"
    widget: WidgetRoot
    copy_text: str | None = None


class GeneratedImage(BaseModel):
    """An image the model generated, by URL."""

    id: str
    url: str


class GeneratedImageItem(ThreadItemBase):
    """An image being or having been generated."""

    type: Literal["generated_image"] = "generated_image"
    image: GeneratedImage | None = None


class StructuredInputAnswer(BaseModel):
    """The user's answer to one question."""

    values: list[str] = Field(default_factory=list)
    skipped: bool = False


class StructuredInputMultipleChoiceOption(BaseModel):
    """One choice of a multiple-choice question."""

    value: str


class StructuredInputBase(BaseModel):
    """Fields shared by every structured-input question."""

    id: str
    question: str
    answer: StructuredInputAnswer | None = None


class StructuredInputMultipleChoice(StructuredInputBase):
    """A question answered by picking one (or, with `multiple`, several) options."""

    type: Literal["multiple_choice"] = "multiple_choice"
    options: list[StructuredInputMultipleChoiceOption]
    multiple: bool = False


class StructuredInputFreeform(StructuredInputBase):
    """A question answered in free text."""

    type: Literal["freeform"] = "freeform"
    description: str | None = None


StructuredInput = Annotated[StructuredInputMultipleChoice | StructuredInputFreeform, Field(discriminator="type")]
"""Any structured-input question."""


class StructuredInputItem(ThreadItemBase):
    """A form of questions the assistant asks the user."""

    type: Literal["structured_input"] = "structured_input"
    status: Literal["pending", "answered", "skipped"] = "pending"
    inputs: list[StructuredInput]


class TaskItem(ThreadItemBase):
    """A single task shown on its own."""

    type: Literal["task"] = "task"
    task: Task


class WorkflowItem(ThreadItemBase):
    """A workflow of tasks."""

    type: Literal["workflow"] = "workflow"
    workflow: Workflow


class EndOfTurnItem(ThreadItemBase):
    """Marks the end of an assistant turn."""

    type: Literal["end_of_turn"] = "end_of_turn"


class HiddenContextItem(ThreadItemBase):
    """Context for the model that the user never sees."""

    type: Literal["hidden_context_item"] = "hidden_context_item"
    content: Any


class SDKHiddenContextItem(ThreadItemBase):
    """Hidden context written by this SDK itself (for example the note left by a cancelled turn)."""

    type: Literal["sdk_hidden_context"] = "sdk_hidden_context"
    content: str


# typing.Union (not `|`) keeps the generated schema names identical to the reference's.
ThreadItem = Annotated[
    Union[  # noqa: UP007
        UserMessageItem,
        AssistantMessageItem,
        ClientToolCallItem,
        WidgetItem,
        GeneratedImageItem,
        StructuredInputItem,
        WorkflowItem,
        TaskItem,
        HiddenContextItem,
        SDKHiddenContextItem,
        EndOfTurnItem,
    ],
    Field(discriminator="type"),
]
"""Any thread item, told apart by `type`."""
