"""The response pipeline: persistence of every event kind, thread updates, errors, cancellation."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from unittest.mock import ANY

from tests.server.scripted import ALICE, Context, ResponderServer, assistant, request, stream, types_of, user_input

from chatkit.errors import CustomStreamError, ErrorCode, StreamError
from chatkit.server import StreamingResult
from chatkit.server.resumed import ResumedItemDoneEvent
from chatkit.store import Store
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageContentPartAdded,
    AssistantMessageContentPartAnnotationAdded,
    AssistantMessageContentPartDone,
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ClientEffectEvent,
    CustomTask,
    ErrorEvent,
    GeneratedImage,
    GeneratedImageItem,
    GeneratedImageUpdated,
    HiddenContextItem,
    LockedStatus,
    NoticeEvent,
    ProgressUpdateEvent,
    StreamOptions,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    URLSource,
    UserMessageItem,
    Workflow,
    WorkflowItem,
    WorkflowTaskAdded,
    WorkflowTaskUpdated,
)
from chatkit.types.items import Annotation

Responder = AsyncIterator[ThreadStreamEvent]


async def stored(store: Store[Context], thread_id: str) -> list[Any]:
    page = await store.load_thread_items(thread_id, None, 100, "asc", ALICE)
    return page.data[1:]  # without the user message


async def run(server: ResponderServer) -> tuple[str, list[dict[str, Any]]]:
    events = await stream(server, request("threads.create", input=user_input("Go")))
    return events[0]["thread"]["id"], events[2:]


async def test_streamed_message_is_forwarded_and_stored_when_done(store: Store[Context]) -> None:
    async def streamed(thread: ThreadMetadata, _: UserMessageItem | None, __: Context) -> Responder:
        message = AssistantMessageItem(id="asst_1", thread_id=thread.id, created_at=datetime.now(), content=[])
        yield ThreadItemAddedEvent(item=message)
        yield ThreadItemUpdatedEvent(
            item_id="asst_1",
            update=AssistantMessageContentPartAdded(content_index=0, content=AssistantMessageContent(text="")),
        )
        for delta in ("Hel", "lo"):
            yield ThreadItemUpdatedEvent(
                item_id="asst_1", update=AssistantMessageContentPartTextDelta(content_index=0, delta=delta)
            )
        annotation = Annotation(source=URLSource(url="https://example.test", title="Example"), index=5)
        yield ThreadItemUpdatedEvent(
            item_id="asst_1",
            update=AssistantMessageContentPartAnnotationAdded(
                content_index=0, annotation_index=0, annotation=annotation
            ),
        )
        final = AssistantMessageContent(text="Hello", annotations=[annotation])
        yield ThreadItemUpdatedEvent(
            item_id="asst_1", update=AssistantMessageContentPartDone(content_index=0, content=final)
        )
        yield ThreadItemDoneEvent(item=message.model_copy(update={"content": [final]}))

    server = ResponderServer(store)
    server.responder = streamed
    thread_id, events = await run(server)
    assert types_of(events) == ["stream_options", "thread.item.added"] + ["thread.item.updated"] * 5 + [
        "thread.item.done"
    ]
    assert [e["update"]["type"] for e in events[2:7]] == [
        "assistant_message.content_part.added",
        "assistant_message.content_part.text_delta",
        "assistant_message.content_part.text_delta",
        "assistant_message.content_part.annotation_added",
        "assistant_message.content_part.done",
    ]
    (message,) = await stored(store, thread_id)
    assert message.content[0].text == "Hello" and message.content[0].annotations[0].index == 5


async def test_removed_replaced_and_pass_through_events(store: Store[Context]) -> None:
    async def chatty(thread: ThreadMetadata, _: UserMessageItem | None, __: Context) -> Responder:
        yield ThreadItemDoneEvent(item=assistant(thread, "draft", "Draft"))
        yield ThreadItemDoneEvent(item=assistant(thread, "keep", "Keep"))
        yield ThreadItemRemovedEvent(item_id="draft")
        yield ThreadItemReplacedEvent(item=assistant(thread, "keep", "Kept, revised"))
        yield ProgressUpdateEvent(icon="search", text="Searching")
        yield NoticeEvent(level="warning", message="Careful")
        yield ClientEffectEvent(name="confetti", data={"n": 3})
        yield ErrorEvent(message="soft")
        yield ThreadItemDoneEvent(item=assistant(thread, "last", "Still streaming"))

    server = ResponderServer(store)
    server.responder = chatty
    thread_id, events = await run(server)
    assert types_of(events)[1:] == [
        "thread.item.done",
        "thread.item.done",
        "thread.item.removed",
        "thread.item.replaced",
        "progress_update",
        "notice",
        "client_effect",
        "error",
        "thread.item.done",
    ]
    assert events[5] == {"type": "progress_update", "icon": "search", "text": "Searching"}
    assert events[7] == {"type": "client_effect", "name": "confetti", "data": {"n": 3}}
    assert [(item.id, item.content[0].text) for item in await stored(store, thread_id)] == [
        ("keep", "Kept, revised"),
        ("last", "Still streaming"),
    ]


async def test_hidden_items_are_stored_but_never_sent(store: Store[Context]) -> None:
    async def hidden(thread: ThreadMetadata, _: UserMessageItem | None, __: Context) -> Responder:
        note = HiddenContextItem(
            id="hidden_1", thread_id=thread.id, created_at=datetime.now(), content={"tier": "gold"}
        )
        yield ThreadItemAddedEvent(item=note)
        yield ThreadItemDoneEvent(item=note)
        yield ThreadItemDoneEvent(item=assistant(thread, "asst_1", "Visible"))

    server = ResponderServer(store)
    server.responder = hidden
    thread_id, events = await run(server)
    assert "gold" not in str(events)
    assert types_of(events) == ["stream_options", "thread.item.done"]
    assert [item.id for item in await stored(store, thread_id)] == ["hidden_1", "asst_1"]


async def test_workflow_and_image_items_pass_through(store: Store[Context]) -> None:
    async def work(thread: ThreadMetadata, _: UserMessageItem | None, __: Context) -> Responder:
        workflow = WorkflowItem(
            id="wf_1", thread_id=thread.id, created_at=datetime.now(), workflow=Workflow(type="custom", tasks=[])
        )
        yield ThreadItemAddedEvent(item=workflow)
        yield ThreadItemUpdatedEvent(item_id="wf_1", update=WorkflowTaskAdded(task_index=0, task=CustomTask(title="a")))
        yield ThreadItemUpdatedEvent(
            item_id="wf_1",
            update=WorkflowTaskUpdated(task_index=0, task=CustomTask(title="a", status_indicator="complete")),
        )
        yield ThreadItemDoneEvent(item=workflow)
        image = GeneratedImageItem(id="img_1", thread_id=thread.id, created_at=datetime.now())
        yield ThreadItemAddedEvent(item=image)
        generated = GeneratedImage(id="g", url="https://img.test/1.png")
        yield ThreadItemUpdatedEvent(item_id="img_1", update=GeneratedImageUpdated(image=generated, progress=0.5))
        yield ThreadItemDoneEvent(item=image.model_copy(update={"image": generated}))

    server = ResponderServer(store)
    server.responder = work
    thread_id, events = await run(server)
    assert events[3]["update"] == {
        "type": "workflow.task.updated",
        "task_index": 0,
        "task": {"status_indicator": "complete", "type": "custom", "title": "a"},
    }
    assert [item.type for item in await stored(store, thread_id)] == ["workflow", "generated_image"]


async def test_thread_changes_are_saved_and_announced_after_the_event(store: Store[Context]) -> None:
    async def retitle(thread: ThreadMetadata, _: UserMessageItem | None, __: Context) -> Responder:
        thread.title = "New title"
        yield ThreadItemDoneEvent(item=assistant(thread, "asst_1", "One"))
        thread.metadata["topic"] = "edited in place"
        yield ThreadItemDoneEvent(item=assistant(thread, "asst_2", "Two"))
        thread.status = LockedStatus(reason="done")

    server = ResponderServer(store)
    server.responder = retitle
    thread_id, events = await run(server)
    assert types_of(events) == [
        "stream_options",
        "thread.item.done",
        "thread.updated",
        "thread.item.done",
        "thread.updated",
        "thread.updated",
    ]
    assert events[2]["thread"]["title"] == "New title"
    assert events[4]["thread"]["metadata"] == {}
    assert events[5]["thread"]["status"] == {"type": "locked", "reason": "done"}
    saved = await store.load_thread(thread_id, ALICE)
    assert (saved.title, saved.metadata, saved.status.type) == ("New title", {"topic": "edited in place"}, "locked")


async def test_errors_end_the_stream_with_an_error_event(store: Store[Context]) -> None:
    failures: list[Exception] = [
        RuntimeError("boom"),
        CustomStreamError("Quota reached"),
        CustomStreamError("Try again", allow_retry=True),
        StreamError(ErrorCode.STREAM_ERROR),
        StreamError(ErrorCode.STREAM_ERROR, allow_retry=False),
    ]
    expected = [
        {"type": "error", "code": "stream.error", "allow_retry": True},
        {"type": "error", "code": "custom", "message": "Quota reached", "allow_retry": False},
        {"type": "error", "code": "custom", "message": "Try again", "allow_retry": True},
        {"type": "error", "code": "stream.error", "allow_retry": True},
        {"type": "error", "code": "stream.error", "allow_retry": False},
    ]
    for failure, error_event in zip(failures, expected, strict=True):

        async def fail(
            thread: ThreadMetadata, _: UserMessageItem | None, __: Context, failure: Exception = failure
        ) -> Responder:
            thread.title = "set before failing"
            yield ThreadItemAddedEvent(item=assistant(thread, "pending", "never done"))
            raise failure

        server = ResponderServer(store)
        server.responder = fail
        thread_id, events = await run(server)
        assert types_of(events) == ["stream_options", "thread.item.added", "thread.updated", "error"]
        assert events[-1] == error_event
        assert await stored(store, thread_id) == []
        assert (await store.load_thread(thread_id, ALICE)).title == "set before failing"


async def test_custom_stream_options(store: Store[Context]) -> None:
    class NoCancel(ResponderServer):
        def get_stream_options(self, thread: ThreadMetadata, context: Context) -> StreamOptions:
            return StreamOptions(allow_cancel=False)

    _, events = await run(NoCancel(store))
    assert events[0] == {"type": "stream_options", "stream_options": {"allow_cancel": False}}


async def test_a_cancelled_stream_keeps_the_partial_answer_and_leaves_a_note(store: Store[Context]) -> None:
    blocked = asyncio.Event()

    async def slow(thread: ThreadMetadata, _: UserMessageItem | None, __: Context) -> Responder:
        yield ThreadItemAddedEvent(
            item=AssistantMessageItem(id="empty", thread_id=thread.id, created_at=datetime.now(), content=[])
        )
        yield ThreadItemAddedEvent(
            item=AssistantMessageItem(id="asst_1", thread_id=thread.id, created_at=datetime.now(), content=[])
        )
        yield ThreadItemUpdatedEvent(
            item_id="asst_1",
            update=AssistantMessageContentPartAdded(content_index=0, content=AssistantMessageContent(text="Once")),
        )
        for _repeat in range(3):
            yield ThreadItemUpdatedEvent(
                item_id="asst_1", update=AssistantMessageContentPartTextDelta(content_index=0, delta=" upon")
            )
        blocked.set()
        await asyncio.Event().wait()
        yield ThreadItemDoneEvent(item=assistant(thread, "never", "unreachable"))

    server = ResponderServer(store)
    server.responder = slow
    result = await server.process(request("threads.create", input=user_input("Story")), ALICE)
    frames: list[bytes] = []

    async def consume() -> None:
        async for frame in result:  # type: ignore[union-attr]
            frames.append(frame)

    reader = asyncio.create_task(consume())
    await blocked.wait()
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    thread_id = (await store.load_threads(1, None, "desc", ALICE)).data[0].id
    saved = await stored(store, thread_id)
    assert [(item.type, item.id) for item in saved][0] == ("assistant_message", "asst_1")
    assert saved[0].content[0].text == "Once upon upon upon"
    assert saved[1].type == "sdk_hidden_context"
    assert saved[1].content == "The user cancelled the stream. Stop responding to the prior request."
    assert len(saved) == 2


async def test_a_long_reply_is_reassembled_exactly_on_cancel(store: Store[Context]) -> None:
    deltas = [f"{n}," for n in range(50_000)]

    async def long(thread: ThreadMetadata, _: UserMessageItem | None, __: Context) -> Responder:
        yield ThreadItemAddedEvent(
            item=AssistantMessageItem(
                id="asst_1", thread_id=thread.id, created_at=datetime.now(), content=[AssistantMessageContent(text="")]
            )
        )
        for delta in deltas:
            yield ThreadItemUpdatedEvent(
                item_id="asst_1", update=AssistantMessageContentPartTextDelta(content_index=0, delta=delta)
            )
        raise asyncio.CancelledError

    server = ResponderServer(store)
    server.responder = long
    result = await server.process(request("threads.create", input=user_input("Count")), ALICE)
    count = 0
    with contextlib.suppress(asyncio.CancelledError):
        async for _ in result:  # type: ignore[union-attr]
            count += 1
    assert count == 2 + 1 + 1 + len(deltas)
    thread_id = (await store.load_threads(1, None, "desc", ALICE)).data[0].id
    saved = await stored(store, thread_id)
    assert saved[0].content[0].text == "".join(deltas)


async def test_a_resumed_item_finished_in_a_later_turn_is_updated_in_place(store: Store[Context]) -> None:
    async def first(thread: ThreadMetadata, _: UserMessageItem | None, __: Context) -> Responder:
        yield ThreadItemDoneEvent(item=assistant(thread, "asst_resumed", "Working..."))
        yield ThreadItemDoneEvent(item=assistant(thread, "asst_other", "Meanwhile"))

    async def second(thread: ThreadMetadata, _: UserMessageItem | None, __: Context) -> Responder:
        yield ResumedItemDoneEvent(item=assistant(thread, "asst_resumed", "Finished"))

    server = ResponderServer(store)
    server.responder = first
    thread_id, _ = await run(server)
    server.responder = second
    await stream(server, request("threads.add_user_message", thread_id=thread_id, input=user_input("Go on")))
    assert [(item.id, item.type) for item in await stored(store, thread_id)] == [
        ("asst_resumed", "assistant_message"),
        ("asst_other", "assistant_message"),
        (ANY, "user_message"),
    ]
    resumed = await store.load_item(thread_id, "asst_resumed", ALICE)
    assert isinstance(resumed, AssistantMessageItem) and resumed.content[0].text == "Finished"


async def test_a_consumer_closing_the_stream_early_keeps_the_partial_answer(store: Store[Context]) -> None:
    closed = asyncio.Event()

    async def streaming(thread: ThreadMetadata, _: UserMessageItem | None, __: Context) -> Responder:
        try:
            yield ThreadItemAddedEvent(
                item=AssistantMessageItem(
                    id="asst_1",
                    thread_id=thread.id,
                    created_at=datetime.now(),
                    content=[AssistantMessageContent(text="")],
                )
            )
            for word in ("Once", " upon", " a", " time"):
                yield ThreadItemUpdatedEvent(
                    item_id="asst_1", update=AssistantMessageContentPartTextDelta(content_index=0, delta=word)
                )
        finally:
            closed.set()

    server = ResponderServer(store)
    server.responder = streaming
    result = await server.process(request("threads.create", input=user_input("Story")), ALICE)
    assert isinstance(result, StreamingResult)
    iterator = aiter(result)
    for _frame in range(6):  # created, the user's message, options, added, two deltas
        await anext(iterator)
    await result.json_events.aclose()
    assert closed.is_set()  # the responder was closed too
    thread_id = (await store.load_threads(1, None, "desc", ALICE)).data[0].id
    saved = await stored(store, thread_id)
    assert [item.type for item in saved] == ["assistant_message", "sdk_hidden_context"]
    assert saved[0].content[0].text == "Once upon"
