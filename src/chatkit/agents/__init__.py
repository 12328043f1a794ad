"""The OpenAI Agents SDK bridge: run an agent over a ChatKit thread and stream its answer.

`simple_to_agent_input` / `ThreadItemConverter` turn thread items into model input,
`stream_agent_response` turns the streamed run into ChatKit events, and `AgentContext` lets
tools stream events, widgets and workflows, or hand a tool call to the client.

The protocol, store, widget and Responses names re-exported here are the ones the reference
publishes from this module, so code written against it imports them unchanged.
"""

from typing import TypeVar

from agents import TResponseInputItem
from openai.types.responses import ResponseInputContentParam, ResponseInputMessageContentListParam
from openai.types.responses.response_output_message import Content
from openai.types.responses.response_output_text import Annotation as ResponsesAnnotation

from chatkit.agents._context import AgentContext, ClientToolCall, TContext
from chatkit.agents._input import ChatCompletionsItemConverter, ThreadItemConverter, simple_to_agent_input
from chatkit.agents._stream import (
    ResponseStreamConverter,
    StreamingThoughtTracker,
    TWidget,
    accumulate_text,
    stream_agent_response,
)
from chatkit.server.widget_stream import stream_widget
from chatkit.store import Store, StoreItemType
from chatkit.types import (
    Annotation,
    AssistantMessageContent,
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartAnnotationAdded,
    AssistantMessageContentPartDone,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    Attachment,
    ClientToolCallItem,
    DurationSummary,
    EndOfTurnItem,
    FileSource,
    GeneratedImage,
    GeneratedImageItem,
    GeneratedImageUpdated,
    HiddenContextItem,
    SDKHiddenContextItem,
    StructuredInputItem,
    Task,
    TaskItem,
    ThoughtTask,
    ThreadItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    URLSource,
    UserMessageItem,
    UserMessageTagContent,
    UserMessageTextContent,
    WidgetItem,
    Workflow,
    WorkflowItem,
    WorkflowTaskAdded,
    WorkflowTaskUpdated,
)
from chatkit.widgets import Markdown, Text, WidgetRoot

# Generic parameters the reference publishes from this module; kept so imports of them keep working.
T1 = TypeVar("T1")
T2 = TypeVar("T2")

__all__ = [
    "AgentContext",
    "Annotation",
    "AssistantMessageContent",
    "AssistantMessageContentPartAdded",
    "AssistantMessageContentPartAnnotationAdded",
    "AssistantMessageContentPartDone",
    "AssistantMessageContentPartTextDelta",
    "AssistantMessageItem",
    "Attachment",
    "ChatCompletionsItemConverter",
    "ClientToolCall",
    "ClientToolCallItem",
    "Content",
    "DurationSummary",
    "EndOfTurnItem",
    "FileSource",
    "GeneratedImage",
    "GeneratedImageItem",
    "GeneratedImageUpdated",
    "HiddenContextItem",
    "Markdown",
    "ResponseInputContentParam",
    "ResponseInputMessageContentListParam",
    "ResponseStreamConverter",
    "ResponsesAnnotation",
    "SDKHiddenContextItem",
    "Store",
    "StoreItemType",
    "StreamingThoughtTracker",
    "StructuredInputItem",
    "T1",
    "T2",
    "TContext",
    "TResponseInputItem",
    "TWidget",
    "Task",
    "TaskItem",
    "Text",
    "ThoughtTask",
    "ThreadItem",
    "ThreadItemAddedEvent",
    "ThreadItemConverter",
    "ThreadItemDoneEvent",
    "ThreadItemRemovedEvent",
    "ThreadItemUpdatedEvent",
    "ThreadMetadata",
    "ThreadStreamEvent",
    "URLSource",
    "UserMessageItem",
    "UserMessageTagContent",
    "UserMessageTextContent",
    "WidgetItem",
    "WidgetRoot",
    "Workflow",
    "WorkflowItem",
    "WorkflowTaskAdded",
    "WorkflowTaskUpdated",
    "accumulate_text",
    "simple_to_agent_input",
    "stream_agent_response",
    "stream_widget",
]
