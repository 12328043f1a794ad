"""A scripted Agents SDK model: each call to the model plays one prepared Responses-API event stream.

No network, no key: a test says what the model answers (`Script`), runs the agent as usual
(`Runner.run_streamed`, `stream_agent_response`, a `ChatKitServer`), and then reads what the model
was given (`ScriptedModel.inputs`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

from agents import Model, ModelResponse, ModelSettings, ModelTracing, Tool, TResponseInputItem, Usage
from openai.types.responses import (
    Response,
    ResponseCompletedEvent,
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseCreatedEvent,
    ResponseFunctionCallArgumentsDoneEvent,
    ResponseFunctionToolCall,
    ResponseImageGenCallPartialImageEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputRefusal,
    ResponseOutputText,
    ResponseOutputTextAnnotationAddedEvent,
    ResponseReasoningItem,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseReasoningSummaryTextDoneEvent,
    ResponseRefusalDeltaEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from openai.types.responses.response_output_item import ImageGenerationCall

Step = Any
"""A Responses stream event, or an async callable awaited at that point of the stream (a delay, a failure)."""


class ScriptedModel(Model):
    """Answers the n-th model call with the n-th script, and records what each call was given.

    Give `Script` objects (or lists of stream events): `ScriptedModel(Script().text("m1", "Hi ",
    "there"))`. A call with no script left fails the test with a clear message. A model whose
    answer depends on what it was asked takes a `planner` instead, building each call's `Script`.
    """

    def __init__(
        self,
        *scripts: Script | list[Step],
        planner: Callable[[str | list[TResponseInputItem]], Script] | None = None,
        record: bool = True,
    ) -> None:
        self.scripts: list[Script | list[Step]] = list(scripts)
        self.planner = planner
        """Builds each call's script from its input instead of taking the next prepared one."""
        self.record = record
        """Whether calls are recorded; a long-running server playing a planner turns it off."""
        self.inputs: list[str | list[TResponseInputItem]] = []
        """The input of every call, in order: what the model saw (messages, attachments, widgets)."""
        self.instructions: list[str | None] = []
        """The system instructions of every call."""
        self.calls = 0
        """How many times the model was called."""

    def _next(self, system_instructions: str | None, input: str | list[TResponseInputItem]) -> Script | list[Step]:
        self.calls += 1
        if self.record:
            self.inputs.append(input)
            self.instructions.append(system_instructions)
        if self.planner is not None:
            return self.planner(input)
        if not self.scripts:
            raise AssertionError(f"the model was called {self.calls} times, with only {self.calls - 1} scripts")
        return self.scripts.pop(0)

    async def get_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: Any,
        handoffs: list[Any],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: Any,
    ) -> ModelResponse:
        """The script's output items at once (for `Runner.run`); pauses and failures in it still happen."""
        script = self._next(system_instructions, input)
        steps = script.build() if isinstance(script, Script) else script
        response_id = None
        output: list[Any] = []
        for step in steps:
            if callable(step):
                await cast(Callable[[], Awaitable[None]], step)()
            elif isinstance(step, ResponseCompletedEvent):
                output = list(step.response.output)
                response_id = step.response.id
        return ModelResponse(output=output, usage=Usage(), response_id=response_id)

    async def stream_response(
        self,
        system_instructions: str | None,
        input: str | list[TResponseInputItem],
        model_settings: ModelSettings,
        tools: list[Tool],
        output_schema: Any,
        handoffs: list[Any],
        tracing: ModelTracing,
        *,
        previous_response_id: str | None,
        conversation_id: str | None,
        prompt: Any,
    ) -> AsyncIterator[Any]:
        """The script's events one by one (for `Runner.run_streamed` and the ChatKit bridge)."""
        script = self._next(system_instructions, input)
        for step in script.build() if isinstance(script, Script) else script:
            if callable(step):
                await cast(Callable[[], Awaitable[None]], step)()
            else:
                yield step


class Script:
    """Builds one model response's stream: output items in order, then `response.completed`.

    Chain the parts: `Script().reasoning("r1", ["Thinking"]).call("c1", "call_1", "lookup", {"q": "x"})`,
    then the next call's `Script().text("m1", "Found ", "it.")`.
    """

    def __init__(self, response_id: str = "resp_1") -> None:
        self.response_id = response_id
        self.steps: list[Step] = []
        self.output: list[Any] = []

    def _seq(self) -> int:
        return len(self.steps) + 1

    def _add(self, event_class: type, event_type: str, **fields: Any) -> None:
        self.steps.append(event_class(type=event_type, sequence_number=self._seq(), **fields))

    def _open(self, item: Any) -> int:
        index = len(self.output)
        self._add(ResponseOutputItemAddedEvent, "response.output_item.added", output_index=index, item=item)
        return index

    def _close(self, index: int, item: Any) -> None:
        self._add(ResponseOutputItemDoneEvent, "response.output_item.done", output_index=index, item=item)
        self.output.append(item)

    def text(self, item_id: str, *chunks: str, annotations: list[Any] | None = None, pace: float = 0.0) -> Script:
        """An assistant message streamed as `chunks` (`pace` seconds before each), then its citations."""
        pending = ResponseOutputMessage(id=item_id, type="message", role="assistant", status="in_progress", content=[])
        index = self._open(pending)
        at = {"item_id": item_id, "output_index": index, "content_index": 0}
        empty = ResponseOutputText(type="output_text", text="", annotations=[])
        self._add(ResponseContentPartAddedEvent, "response.content_part.added", **at, part=empty)
        for chunk in chunks:
            if pace:
                self.pause(pace)
            self._add(ResponseTextDeltaEvent, "response.output_text.delta", **at, delta=chunk, logprobs=[])
        for position, annotation in enumerate(annotations or []):
            self._add(
                ResponseOutputTextAnnotationAddedEvent,
                "response.output_text.annotation.added",
                **at,
                annotation_index=position,
                annotation=annotation,
            )
        text = "".join(chunks)
        self._add(ResponseTextDoneEvent, "response.output_text.done", **at, text=text, logprobs=[])
        final = ResponseOutputText(type="output_text", text=text, annotations=list(annotations or []))
        self._add(ResponseContentPartDoneEvent, "response.content_part.done", **at, part=final)
        self._close(index, pending.model_copy(update={"status": "completed", "content": [final]}))
        return self

    def refusal(self, item_id: str, text: str) -> Script:
        """A message whose only part is a refusal."""
        pending = ResponseOutputMessage(id=item_id, type="message", role="assistant", status="in_progress", content=[])
        index = self._open(pending)
        at = {"item_id": item_id, "output_index": index, "content_index": 0}
        self._add(
            ResponseContentPartAddedEvent,
            "response.content_part.added",
            **at,
            part=ResponseOutputRefusal(type="refusal", refusal=""),
        )
        self._add(ResponseRefusalDeltaEvent, "response.refusal.delta", **at, delta=text)
        part = ResponseOutputRefusal(type="refusal", refusal=text)
        self._add(ResponseContentPartDoneEvent, "response.content_part.done", **at, part=part)
        self._close(index, pending.model_copy(update={"status": "completed", "content": [part]}))
        return self

    def call(self, item_id: str, call_id: str, name: str, arguments: dict[str, Any]) -> Script:
        """A function call of tool `name`."""
        raw = json.dumps(arguments)
        pending = ResponseFunctionToolCall(
            id=item_id, call_id=call_id, name=name, arguments="", type="function_call", status="in_progress"
        )
        index = self._open(pending)
        self._add(
            ResponseFunctionCallArgumentsDoneEvent,
            "response.function_call_arguments.done",
            item_id=item_id,
            output_index=index,
            name=name,
            arguments=raw,
        )
        self._close(index, pending.model_copy(update={"arguments": raw, "status": "completed"}))
        return self

    def reasoning(self, item_id: str, *summaries: list[str]) -> Script:
        """A reasoning item with one summary part per list of chunks."""
        index = self._open(ResponseReasoningItem(id=item_id, type="reasoning", summary=[]))
        for summary_index, chunks in enumerate(summaries):
            at = {"item_id": item_id, "output_index": index, "summary_index": summary_index}
            for chunk in chunks:
                self._add(
                    ResponseReasoningSummaryTextDeltaEvent, "response.reasoning_summary_text.delta", **at, delta=chunk
                )
            self._add(
                ResponseReasoningSummaryTextDoneEvent,
                "response.reasoning_summary_text.done",
                **at,
                text="".join(chunks),
            )
        summary = [{"type": "summary_text", "text": "".join(chunks)} for chunks in summaries]
        self._close(index, ResponseReasoningItem(id=item_id, type="reasoning", summary=summary))  # type: ignore[arg-type]
        return self

    def image(self, item_id: str, partials: list[str], result: str) -> Script:
        """An image generation call sending `partials`, then the final image."""
        index = self._open(ImageGenerationCall(id=item_id, type="image_generation_call", status="in_progress"))
        for position, partial in enumerate(partials):
            self._add(
                ResponseImageGenCallPartialImageEvent,
                "response.image_generation_call.partial_image",
                item_id=item_id,
                output_index=index,
                partial_image_b64=partial,
                partial_image_index=position,
            )
        self._close(
            index, ImageGenerationCall(id=item_id, type="image_generation_call", status="completed", result=result)
        )
        return self

    def step(self, step: Step | Callable[[], Awaitable[None]]) -> Script:
        """Any other event, or an async callable awaited at this point."""
        self.steps.append(step)
        return self

    def pause(self, seconds: float) -> Script:
        """Wait `seconds` here, as a slow model does (to test a stop or a reload mid-answer)."""

        async def wait() -> None:
            await asyncio.sleep(seconds)

        return self.step(wait)

    def fail(self, error: Exception) -> Script:
        """Raise `error` here, as a model call that breaks mid-stream does."""

        async def raise_it() -> None:
            raise error

        return self.step(raise_it)

    def build(self) -> list[Step]:
        """The whole stream."""

        def response(output: list[Any], status: Any) -> Response:
            return Response(
                id=self.response_id,
                created_at=0,
                model="scripted",
                object="response",
                output=output,
                tool_choice="auto",
                tools=[],
                parallel_tool_calls=False,
                status=status,
            )

        created = ResponseCreatedEvent(type="response.created", sequence_number=0, response=response([], "in_progress"))
        completed = ResponseCompletedEvent(
            type="response.completed", sequence_number=self._seq(), response=response(self.output, "completed")
        )
        return [created, *self.steps, completed]
