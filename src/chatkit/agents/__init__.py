"""The OpenAI Agents SDK bridge: run an agent over a ChatKit thread and stream its answer.

`simple_to_agent_input` / `ThreadItemConverter` turn thread items into model input,
`stream_agent_response` turns the streamed run into ChatKit events, and `AgentContext` lets
tools stream events, widgets and workflows, or hand a tool call to the client.
"""

from typing import TypeVar

from chatkit.agents._context import AgentContext, ClientToolCall, TContext
from chatkit.agents._input import ChatCompletionsItemConverter, ThreadItemConverter, simple_to_agent_input
from chatkit.agents._stream import (
    ResponseStreamConverter,
    StreamingThoughtTracker,
    TWidget,
    accumulate_text,
    stream_agent_response,
)

# Generic parameters the reference publishes from this module; kept so imports of them keep working.
T1 = TypeVar("T1")
T2 = TypeVar("T2")

__all__ = [
    "AgentContext",
    "ChatCompletionsItemConverter",
    "ClientToolCall",
    "ResponseStreamConverter",
    "StreamingThoughtTracker",
    "T1",
    "T2",
    "TContext",
    "TWidget",
    "ThreadItemConverter",
    "accumulate_text",
    "simple_to_agent_input",
    "stream_agent_response",
]
