"""The demo's offline model: a scripted `agents.Model` that needs no API key and no network.

It reads the conversation the Agents SDK hands it and plays one step of a fixed script per call:
look the topic up (progress and a workflow), show a summary card (a widget), then stream a
Markdown answer. A message that asks about the browser, the time or the language calls the
client tool instead. The answer says plainly that it comes from the offline model.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from agents import Handoff, Model, ModelResponse, ModelSettings, ModelTracing, Tool, Usage
from agents.agent_output import AgentOutputSchemaBase
from agents.items import TResponseInputItem, TResponseOutputItem, TResponseStreamEvent
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDeltaEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from openai.types.responses.response_prompt_param import ResponsePromptParam

from chatkit._json import json_object

MODEL_NAME = "chatkit-demo-offline"
RESEARCH_TOOL = "research_topic"
WIDGET_TOOL = "show_summary_card"
CLIENT_TOOL = "get_browser_info"

_CLIENT_TOOL_WORDS = re.compile(r"\b(browser|time|timezone|language|locale)\b", re.IGNORECASE)
# Words and the whitespace after them, so deltas join back into the exact answer.
_CHUNK = re.compile(r"\S+\s*|\s+")


@dataclass(frozen=True)
class _ToolStep:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class _TextStep:
    text: str


class OfflineModel(Model):
    """A scripted model that streams a realistic turn offline; `delay` paces the text deltas."""

    def __init__(self, *, delay: float = 0.02) -> None:
        self.delay = delay

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> ModelResponse:
        """Answer the next step of the script in one piece."""
        step = plan_step(input)
        item = _function_call(step) if isinstance(step, _ToolStep) else _message(_next_id("msg"), step.text)
        return ModelResponse(output=[item], usage=Usage(requests=1), response_id=_next_id("resp"))

    def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: AgentOutputSchemaBase | None,
        handoffs: list[Handoff],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: ResponsePromptParam | None,
    ) -> AsyncIterator[TResponseStreamEvent]:
        """Stream the next step of the script as Responses API events."""
        return self._stream(plan_step(input))

    async def _stream(self, step: _ToolStep | _TextStep) -> AsyncIterator[TResponseStreamEvent]:
        sequence = itertools.count()
        response_id = _next_id("resp")
        yield ResponseCreatedEvent(
            type="response.created", response=_response(response_id, []), sequence_number=next(sequence)
        )
        if isinstance(step, _ToolStep):
            item: TResponseOutputItem = _function_call(step)
            async for event in _stream_function_call(item, sequence):
                yield event
        else:
            item = _message(_next_id("msg"), step.text)
            async for event in self._stream_message(item, step.text, sequence):
                yield event
        yield ResponseCompletedEvent(
            type="response.completed", response=_response(response_id, [item]), sequence_number=next(sequence)
        )

    async def _stream_message(
        self, item: ResponseOutputMessage, text: str, sequence: itertools.count[int]
    ) -> AsyncIterator[TResponseStreamEvent]:
        in_progress = item.model_copy(update={"content": [], "status": "in_progress"})
        yield ResponseOutputItemAddedEvent(
            type="response.output_item.added", item=in_progress, output_index=0, sequence_number=next(sequence)
        )
        yield ResponseContentPartAddedEvent(
            type="response.content_part.added",
            item_id=item.id,
            output_index=0,
            content_index=0,
            part=ResponseOutputText(type="output_text", text="", annotations=[]),
            sequence_number=next(sequence),
        )
        for chunk in _CHUNK.findall(text):
            # Pacing makes the demo read like a live model and gives a person time to press stop.
            await asyncio.sleep(self.delay)
            yield ResponseTextDeltaEvent(
                type="response.output_text.delta",
                item_id=item.id,
                output_index=0,
                content_index=0,
                delta=chunk,
                logprobs=[],
                sequence_number=next(sequence),
            )
        yield ResponseTextDoneEvent(
            type="response.output_text.done",
            item_id=item.id,
            output_index=0,
            content_index=0,
            text=text,
            logprobs=[],
            sequence_number=next(sequence),
        )
        yield ResponseContentPartDoneEvent(
            type="response.content_part.done",
            item_id=item.id,
            output_index=0,
            content_index=0,
            part=item.content[0],
            sequence_number=next(sequence),
        )
        yield ResponseOutputItemDoneEvent(
            type="response.output_item.done", item=item, output_index=0, sequence_number=next(sequence)
        )


async def _stream_function_call(
    item: ResponseFunctionToolCall, sequence: itertools.count[int]
) -> AsyncIterator[TResponseStreamEvent]:
    item_id = item.id or item.call_id
    yield ResponseOutputItemAddedEvent(
        type="response.output_item.added",
        item=item.model_copy(update={"arguments": "", "status": "in_progress"}),
        output_index=0,
        sequence_number=next(sequence),
    )
    yield ResponseFunctionCallArgumentsDeltaEvent(
        type="response.function_call_arguments.delta",
        item_id=item_id,
        output_index=0,
        delta=item.arguments,
        sequence_number=next(sequence),
    )
    yield ResponseFunctionCallArgumentsDoneEvent(
        type="response.function_call_arguments.done",
        item_id=item_id,
        output_index=0,
        arguments=item.arguments,
        sequence_number=next(sequence),
    )
    yield ResponseOutputItemDoneEvent(
        type="response.output_item.done", item=item, output_index=0, sequence_number=next(sequence)
    )


def plan_step(input: str | Sequence[TResponseInputItem]) -> _ToolStep | _TextStep:
    """Choose the script's next step from the conversation so far."""
    items: list[Any] = [{"role": "user", "content": input}] if isinstance(input, str) else list(input)
    last_user = max((i for i, item in enumerate(items) if _role(item) == "user"), default=-1)
    question = _text_of(items[last_user]) if last_user >= 0 else ""
    attached = _attachments_of(items[last_user]) if last_user >= 0 else []
    called = {_field(item, "name"): item for item in items[last_user + 1 :] if _field(item, "type") == "function_call"}
    outputs = {
        _field(item, "call_id"): _field(item, "output")
        for item in items[last_user + 1 :]
        if _field(item, "type") == "function_call_output"
    }
    topic = _topic(question)

    if CLIENT_TOOL in called:
        return _TextStep(_browser_answer(outputs.get(_field(called[CLIENT_TOOL], "call_id"))))
    if not called and _CLIENT_TOOL_WORDS.search(question):
        return _ToolStep(CLIENT_TOOL, {})
    if RESEARCH_TOOL not in called:
        return _ToolStep(RESEARCH_TOOL, {"topic": topic})
    if WIDGET_TOOL not in called:
        return _ToolStep(WIDGET_TOOL, {"title": topic, "points": list(_POINTS)})
    return _TextStep(_answer(topic, attached))


_POINTS = (
    "Streams every event as it happens",
    "Saves the thread after each item",
    "Keeps a stopped answer as it stood",
)


def _answer(topic: str, attached: list[str]) -> str:
    return (
        "*I am the **offline demo model**: a scripted stand-in that runs without an API key, so this "
        "answer is canned. Set `OPENAI_API_KEY` to talk to a real model.*\n\n"
        f"{_attachment_note(attached)}"
        f"## About “{topic}”\n\n"
        "Here is what this turn just showed you, step by step:\n\n"
        "1. A **progress update** while the research tool ran.\n"
        "2. A **workflow** with tasks that completed one after the other.\n"
        "3. A **widget** built from a `.widget` template; its button calls the server.\n"
        "4. This answer, streamed word by word as Markdown.\n\n"
        "### Things to try\n\n"
        "- Press **Stop** while an answer streams: the part you saw is kept.\n"
        "- Reload the page: the thread comes back from SQLite.\n"
        "- Ask *what time is it in my browser?* to run a **client tool**.\n"
        "- Attach an image, then use **Retry** or the feedback buttons.\n\n"
        "A custom server is a few lines:\n\n"
        "```python\n"
        "class MyServer(ChatKitServer[dict]):\n"
        "    async def respond(self, thread, item, context):\n"
        "        ...\n"
        "```\n\n"
        "> Everything you see went through the same protocol the official ChatKit client speaks."
    )


def _attachment_note(attached: list[str]) -> str:
    if not attached:
        return ""
    images = attached.count("image")
    files = attached.count("file")
    counted = [f"{n} {noun}{'' if n == 1 else 's'}" for n, noun in ((images, "image"), (files, "file")) if n]
    pronoun = "it" if len(attached) == 1 else "them"
    return f"You attached {' and '.join(counted)}; a real model would look at {pronoun}.\n\n"


def _browser_answer(output: Any) -> str:
    try:
        facts = json.loads(output) if isinstance(output, str) else output
    except ValueError:
        facts = output
    if facts := json_object(facts):
        lines = "\n".join(f"- **{key}**: {value}" for key, value in facts.items())
    else:
        lines = "- (the browser sent nothing back)"
    return (
        "*I am the **offline demo model**, so I can only repeat what your browser told me.*\n\n"
        "Your browser answered the `get_browser_info` client tool with:\n\n"
        f"{lines}\n"
    )


def _topic(question: str) -> str:
    words = question.split()
    topic = " ".join(words[:8]) + (" …" if len(words) > 8 else "")
    return topic or "your question"


def _role(item: Any) -> str | None:
    role = _field(item, "role")
    return role if isinstance(role, str) else None


def _field(item: Any, name: str) -> Any:
    fields = json_object(item)
    return fields.get(name) if fields is not None else getattr(item, name, None)


def _text_of(item: Any) -> str:
    """What the user typed: the first part of a message (converters add attachments after it)."""
    content = _field(item, "content")
    if isinstance(content, str):
        return content.strip()
    first = _field(content[0], "text") if content else None
    return first.strip() if isinstance(first, str) else ""


def _attachments_of(item: Any) -> list[str]:
    """What the parts after the typed text are: `image` for an image, `file` for a file sent as text or data."""
    content = _field(item, "content")
    if isinstance(content, str) or not content:
        return []
    kinds = [_field(part, "type") for part in content[1:]]
    return ["image" if kind == "input_image" else "file" for kind in kinds if kind in _ATTACHMENT_PARTS]


_ATTACHMENT_PARTS = ("input_image", "input_file", "input_text")


def _next_id(prefix: str) -> str:
    # Unique across restarts: the bridge may keep these ids for the thread's items.
    return f"{prefix}_{uuid.uuid4().hex[:16]}"


def _function_call(step: _ToolStep) -> ResponseFunctionToolCall:
    call_id = _next_id("call")
    return ResponseFunctionToolCall(
        type="function_call",
        id=_next_id("fc"),
        call_id=call_id,
        name=step.name,
        arguments=json.dumps(step.arguments),
        status="completed",
    )


def _message(item_id: str, text: str) -> ResponseOutputMessage:
    return ResponseOutputMessage(
        type="message",
        id=item_id,
        role="assistant",
        status="completed",
        content=[ResponseOutputText(type="output_text", text=text, annotations=[])],
    )


def _response(response_id: str, output: list[TResponseOutputItem]) -> Response:
    return Response(
        id=response_id,
        object="response",
        created_at=time.time(),
        model=MODEL_NAME,
        output=output,
        parallel_tool_calls=False,
        tool_choice="auto",
        tools=[],
    )
