"""A scripted Agents SDK model: each call to the model replays one prepared Responses-API event stream."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, cast

from agents import Model, ModelSettings, ModelTracing, Tool, TResponseInputItem
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

Step = Any  # a Responses stream event, or an async callable awaited at that point of the stream


class ScriptedModel(Model):
    """Answers the n-th model call with the n-th script; records the input of every call."""

    def __init__(self, *scripts: list[Step]) -> None:
        self.scripts = list(scripts)
        self.inputs: list[str | list[TResponseInputItem]] = []

    async def get_response(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the bridge always streams")

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
        self.inputs.append(input)
        for step in self.scripts.pop(0):
            if callable(step):
                await cast(Callable[[], Awaitable[None]], step)()
            else:
                yield step


class Script:
    """Builds one model response's stream: output items in order, then `response.completed`."""

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

    def text(self, item_id: str, *chunks: str, annotations: list[Any] | None = None) -> Script:
        """An assistant message streamed as `chunks`, with citations announced after the text."""
        pending = ResponseOutputMessage(id=item_id, type="message", role="assistant", status="in_progress", content=[])
        index = self._open(pending)
        at = {"item_id": item_id, "output_index": index, "content_index": 0}
        empty = ResponseOutputText(type="output_text", text="", annotations=[])
        self._add(ResponseContentPartAddedEvent, "response.content_part.added", **at, part=empty)
        for chunk in chunks:
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
