"""stream_agent_response over streams that start mid-message or end a part with only one done event.

Recorded or hand-built streams need not carry every Responses event: content events may arrive
without the `output_item.added` that opened their message, and providers end a text part with
`output_text.done`, `content_part.done`, or both. Each case still converts, once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, cast

from agents import RawResponsesStreamEvent
from openai.types.responses import (
    ResponseContentPartAddedEvent,
    ResponseContentPartDoneEvent,
    ResponseOutputItemAddedEvent,
    ResponseOutputItemDoneEvent,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseOutputTextAnnotationAddedEvent,
    ResponseReasoningItem,
    ResponseReasoningSummaryTextDeltaEvent,
    ResponseTextDeltaEvent,
    ResponseTextDoneEvent,
)
from openai.types.responses.response_output_text import AnnotationURLCitation

from chatkit.agents import ResponseStreamConverter, stream_agent_response
from chatkit.types import Annotation, ThreadItemAddedEvent, ThreadStreamEvent, URLSource

from .support import loose, memory_context, update

WHERE: dict[str, Any] = {"item_id": "msg_r", "output_index": 0, "content_index": 0}


class Replay:
    """A streamed run that replays fixed Responses events (the public surface only)."""

    def __init__(self, *data: Any) -> None:
        self.data = data
        self.is_complete = False

    async def stream_events(self) -> AsyncIterator[Any]:
        for number, event in enumerate(self.data):
            yield RawResponsesStreamEvent(data=event.model_copy(update={"sequence_number": number}))
        self.is_complete = True

    def cancel(self) -> None:
        self.is_complete = True


def delta(text: str) -> ResponseTextDeltaEvent:
    return ResponseTextDeltaEvent(
        type="response.output_text.delta", delta=text, logprobs=[], sequence_number=0, **WHERE
    )


def text_done(text: str) -> ResponseTextDoneEvent:
    return ResponseTextDoneEvent(type="response.output_text.done", text=text, logprobs=[], sequence_number=0, **WHERE)


def part_done(text: str) -> ResponseContentPartDoneEvent:
    part = ResponseOutputText(type="output_text", text=text, annotations=[])
    return ResponseContentPartDoneEvent(type="response.content_part.done", part=part, sequence_number=0, **WHERE)


def message(text: str, annotations: list[Any] | None = None) -> ResponseOutputMessage:
    part = ResponseOutputText(type="output_text", text=text, annotations=annotations or [])
    return ResponseOutputMessage(id="msg_r", type="message", role="assistant", status="completed", content=[part])


def item_added() -> ResponseOutputItemAddedEvent:
    item = message("").model_copy(update={"content": [], "status": "in_progress"})
    return ResponseOutputItemAddedEvent(type="response.output_item.added", item=item, output_index=0, sequence_number=0)


def item_done(text: str, annotations: list[Any] | None = None) -> ResponseOutputItemDoneEvent:
    return ResponseOutputItemDoneEvent(
        type="response.output_item.done", item=message(text, annotations), output_index=0, sequence_number=0
    )


async def convert(*data: Any, converter: ResponseStreamConverter | None = None) -> list[Any]:
    context = await memory_context()
    options = {"converter": converter} if converter is not None else {}
    return loose([event async for event in stream_agent_response(context, cast(Any, Replay(*data)), **options)])


def part(text: str) -> dict[str, Any]:
    return {"annotations": [], "text": text, "type": "output_text"}


async def test_content_events_without_their_message_start_keep_the_responses_item_id() -> None:
    added = ResponseContentPartAddedEvent(
        type="response.content_part.added",
        part=ResponseOutputText(type="output_text", text="", annotations=[]),
        sequence_number=0,
        **WHERE,
    )

    events = await convert(added, delta("Hi"), text_done("Hi"))

    assert events == [
        update("msg_r", "assistant_message.content_part.added", content_index=0, content=part("")),
        update("msg_r", "assistant_message.content_part.text_delta", content_index=0, delta="Hi"),
        update("msg_r", "assistant_message.content_part.done", content_index=0, content=part("Hi")),
    ]


async def test_a_finished_message_whose_start_was_not_streamed_is_sent_done() -> None:
    events = await convert(item_done("Whole answer"))

    assert [(event["type"], event["item"]["id"], event["item"]["content"]) for event in events] == [
        ("thread.item.done", "msg_r", [part("Whole answer")])
    ]


async def test_a_text_part_is_done_once_whichever_done_events_end_it() -> None:
    done = update("msg_r", "assistant_message.content_part.done", content_index=0, content=part("Hi"))
    for ending in ([text_done("Hi")], [part_done("Hi")], [text_done("Hi"), part_done("Hi")]):
        events = await convert(item_added(), delta("Hi"), *ending, item_done("Hi"))
        assert [event for event in events if event.get("update", {}).get("type") == done["update"]["type"]] == [done], (
            ending
        )


class Relabelling(ResponseStreamConverter):
    """Marks each converted URL citation with a running number, to tell conversions apart."""

    def __init__(self) -> None:
        super().__init__()
        self.conversions = 0

    async def url_citation_to_annotation(self, url_citation: AnnotationURLCitation) -> Annotation | None:
        self.conversions += 1
        return Annotation(source=URLSource(url=url_citation.url, title=f"call {self.conversions}"), index=0)


async def test_the_finished_message_converts_the_citations_of_its_own_parts() -> None:
    citation = AnnotationURLCitation(
        type="url_citation", url="https://example.test/", title="Example", start_index=0, end_index=2
    )
    streamed = ResponseOutputTextAnnotationAddedEvent(
        type="response.output_text.annotation.added",
        annotation=cast(Any, citation.model_dump()),
        annotation_index=0,
        sequence_number=0,
        **WHERE,
    )
    converter = Relabelling()

    events = await convert(item_added(), delta("Hi"), streamed, item_done("Hi", [citation]), converter=converter)

    assert events[2]["update"]["annotation"]["source"]["title"] == "call 1"
    assert events[-1]["item"]["content"][0]["annotations"][0]["source"]["title"] == "call 2"
    assert converter.conversions == 2


async def test_a_reasoning_workflow_is_opened_empty_before_its_first_thought_is_added() -> None:
    context = await memory_context()
    reasoning = ResponseReasoningItem(id="rs_1", type="reasoning", summary=[])
    run = Replay(
        ResponseOutputItemAddedEvent(
            type="response.output_item.added", item=reasoning, output_index=0, sequence_number=0
        ),
        ResponseReasoningSummaryTextDeltaEvent(
            type="response.reasoning_summary_text.delta",
            item_id="rs_1",
            output_index=0,
            summary_index=0,
            delta="Think",
            sequence_number=0,
        ),
    )
    tasks_seen: list[int] = []
    received: list[ThreadStreamEvent] = []

    async for event in stream_agent_response(context, cast(Any, run)):
        received.append(event)
        workflow = context.workflow_item
        assert workflow is not None
        tasks_seen.append(len(workflow.workflow.tasks))

    # When the consumer holds the announcement, the open workflow is still as announced: empty.
    assert isinstance(received[0], ThreadItemAddedEvent)
    assert tasks_seen == [0, 1]
