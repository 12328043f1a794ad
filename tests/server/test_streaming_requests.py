"""Every streaming request type through `ChatKitServer.process`, over every store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from tests.server.scripted import (
    ALICE,
    Context,
    ResponderServer,
    UploadTargets,
    assistant,
    call,
    loose,
    request,
    say,
    stream,
    types_of,
    user_input,
)

from chatkit.actions import Action
from chatkit.store import NotFoundError, Store
from chatkit.types import (
    ClientToolCallItem,
    StructuredInputFreeform,
    StructuredInputItem,
    StructuredInputMultipleChoice,
    StructuredInputMultipleChoiceOption,
    ThreadItemDoneEvent,
    ThreadItemReplacedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
    WidgetItem,
)
from chatkit.widgets import Card, Text


async def items_of(store: Store[Context], thread_id: str) -> list[dict[str, Any]]:
    page = await store.load_thread_items(thread_id, None, 100, "asc", ALICE)
    return [{"id": item.id, "type": item.type} for item in page.data]


async def new_thread(server: ResponderServer, text: str = "Hi") -> str:
    events = await stream(server, request("threads.create", input=user_input(text)))
    return events[0]["thread"]["id"]


async def test_threads_create_streams_thread_message_options_and_reply(store: Store[Context]) -> None:
    server = ResponderServer(store)
    events = await stream(server, request("threads.create", input=user_input("Hi there", quoted_text="q")))
    assert loose(events) == [
        {
            "type": "thread.created",
            "thread": {
                "id": "<thr>",
                "created_at": "<ts>",
                "status": {"type": "active"},
                "metadata": {},
                "items": {"data": [], "has_more": False},
            },
        },
        {
            "type": "thread.item.done",
            "item": {
                "id": "<msg>",
                "thread_id": "<thr>",
                "created_at": "<ts>",
                "type": "user_message",
                "content": [{"type": "input_text", "text": "Hi there"}],
                "attachments": [],
                "quoted_text": "q",
                "inference_options": {},
            },
        },
        {"type": "stream_options", "stream_options": {"allow_cancel": True}},
        {
            "type": "thread.item.done",
            "item": {
                "id": "asst_1",
                "thread_id": "<thr>",
                "created_at": "<ts>",
                "type": "assistant_message",
                "content": [{"annotations": [], "text": "Hello!", "type": "output_text"}],
            },
        },
    ]
    thread_id = events[0]["thread"]["id"]
    assert events[1]["item"]["thread_id"] == thread_id
    assert await items_of(store, thread_id) == [
        {"id": events[1]["item"]["id"], "type": "user_message"},
        {"id": "asst_1", "type": "assistant_message"},
    ]
    ((name, message),) = server.calls
    assert name == "respond" and isinstance(message, UserMessageItem) and message.quoted_text == "q"


async def test_add_user_message_appends_to_the_thread(store: Store[Context]) -> None:
    server = ResponderServer(store)
    thread_id = await new_thread(server)
    server.responder = say("Second answer", first=2)
    events = await stream(server, request("threads.add_user_message", thread_id=thread_id, input=user_input("More")))
    assert types_of(events) == ["thread.item.done", "stream_options", "thread.item.done"]
    assert [item["type"] for item in await items_of(store, thread_id)] == ["user_message", "assistant_message"] * 2


async def test_add_user_message_to_an_unknown_thread_fails_before_the_first_frame(store: Store[Context]) -> None:
    server = ResponderServer(store)
    result = await server.process(
        request("threads.add_user_message", thread_id="thr_nope", input=user_input("x")), ALICE
    )
    with pytest.raises(NotFoundError):
        await anext(aiter(result))  # type: ignore[arg-type]
    assert server.calls == []
    assert (await store.load_threads(10, None, "asc", ALICE)).data == []


async def test_attachments_are_loaded_and_stamped_with_the_thread(store: Store[Context]) -> None:
    server = ResponderServer(store, UploadTargets())
    created = await call(server, request("attachments.create", name="a.png", size=10, mime_type="image/png"))
    assert "metadata" not in created
    events = await stream(server, request("threads.create", input=user_input("Look", attachments=[created["id"]])))
    thread_id = events[0]["thread"]["id"]
    (attachment,) = events[1]["item"]["attachments"]
    assert attachment["id"] == created["id"] and attachment["thread_id"] == thread_id
    assert "metadata" not in attachment
    stored = await store.load_attachment(created["id"], ALICE)
    assert stored.thread_id == thread_id and stored.metadata == {"storage_key": created["id"]}


def tool_call(thread: ThreadMetadata, item_id: str, call_id: str) -> ClientToolCallItem:
    return ClientToolCallItem(
        id=item_id, thread_id=thread.id, created_at=datetime.now(), call_id=call_id, name="pick", arguments={"n": 1}
    )


async def test_client_tool_output_completes_the_newest_call_and_drops_older_pending_ones(
    store: Store[Context],
) -> None:
    server = ResponderServer(store)

    async def two_calls(
        thread: ThreadMetadata, _: UserMessageItem | None, __: Context
    ) -> AsyncIterator[ThreadStreamEvent]:
        yield ThreadItemDoneEvent(item=tool_call(thread, "tool_old", "call_old"))
        yield ThreadItemDoneEvent(item=tool_call(thread, "tool_new", "call_new"))

    server.responder = two_calls
    thread_id = await new_thread(server)
    server.responder = say("Got it")
    events = await stream(
        server, request("threads.add_client_tool_output", thread_id=thread_id, result={"ok": [1, "two"]})
    )
    assert types_of(events) == ["stream_options", "thread.item.done"]
    assert server.calls[-1] == ("respond", None)
    item = await store.load_item(thread_id, "tool_new", ALICE)
    assert isinstance(item, ClientToolCallItem)
    assert (item.status, item.output) == ("completed", {"ok": [1, "two"]})
    assert [row["id"] for row in await items_of(store, thread_id)][1:] == ["tool_new", "asst_1"]


async def test_client_tool_output_without_a_pending_call_fails_before_the_first_frame(store: Store[Context]) -> None:
    server = ResponderServer(store)
    thread_id = await new_thread(server)
    result = await server.process(request("threads.add_client_tool_output", thread_id=thread_id, result=1), ALICE)
    with pytest.raises(ValueError, match="no pending client tool call"):
        await anext(aiter(result))  # type: ignore[arg-type]
    assert len(await items_of(store, thread_id)) == 2


def questionnaire(thread: ThreadMetadata) -> StructuredInputItem:
    return StructuredInputItem(
        id="form_1",
        thread_id=thread.id,
        created_at=datetime.now(),
        inputs=[
            StructuredInputMultipleChoice(
                id="color", question="Colour?", options=[StructuredInputMultipleChoiceOption(value="red")]
            ),
            StructuredInputMultipleChoice(
                id="toppings",
                question="Toppings?",
                multiple=True,
                options=[StructuredInputMultipleChoiceOption(value=v) for v in ("cheese", "ham")],
            ),
            StructuredInputFreeform(id="notes", question="Notes?"),
        ],
    )


async def test_structured_input_is_answered_replaced_and_then_responded_to(store: Store[Context]) -> None:
    server = ResponderServer(store)

    async def ask(thread: ThreadMetadata, _: UserMessageItem | None, __: Context) -> AsyncIterator[ThreadStreamEvent]:
        yield ThreadItemDoneEvent(item=questionnaire(thread))

    server.responder = ask
    thread_id = await new_thread(server)
    server.responder = say("Thanks")
    answers = {
        "color": {"values": ["red", "blue"]},
        "toppings": {"values": ["cheese", "ham"]},
        "ghost": {"values": ["x"]},
    }
    events = await stream(
        server,
        request("threads.add_structured_input", thread_id=thread_id, item_id="form_1", input={"answers": answers}),
    )
    assert types_of(events) == ["stream_options", "thread.item.replaced", "thread.item.done"]
    replaced = events[1]["item"]
    assert replaced["status"] == "answered"
    assert [question["answer"] for question in replaced["inputs"]] == [
        {"values": ["red"], "skipped": False},
        {"values": ["cheese", "ham"], "skipped": False},
        {"values": [], "skipped": True},
    ]
    stored_form = await store.load_item(thread_id, "form_1", ALICE)
    assert stored_form.model_dump(mode="json", exclude_none=True) == replaced
    # Answering twice is refused: the item is no longer pending.
    result = await server.process(
        request("threads.add_structured_input", thread_id=thread_id, item_id="form_1", input={"answers": {}}), ALICE
    )
    with pytest.raises(ValueError, match="not a pending structured input"):
        await anext(aiter(result))  # type: ignore[arg-type]


async def test_retry_deletes_everything_after_the_message_and_answers_it_again(store: Store[Context]) -> None:
    server = ResponderServer(store)
    server.responder = say("One", "Two")
    thread_id = await new_thread(server, "Question")
    message_id = (await items_of(store, thread_id))[0]["id"]
    server.responder = say("Better")
    events = await stream(server, request("threads.retry_after_item", thread_id=thread_id, item_id=message_id))
    assert types_of(events) == ["stream_options", "thread.item.done"]
    assert await items_of(store, thread_id) == [
        {"id": message_id, "type": "user_message"},
        {"id": "asst_1", "type": "assistant_message"},
    ]
    retried = server.calls[-1][1]
    assert isinstance(retried, UserMessageItem) and retried.id == message_id


async def test_retry_edge_cases(store: Store[Context]) -> None:
    server = ResponderServer(store)
    thread_id = await new_thread(server)
    assert await stream(server, request("threads.retry_after_item", thread_id=thread_id, item_id="nope")) == []
    result = await server.process(request("threads.retry_after_item", thread_id=thread_id, item_id="asst_1"), ALICE)
    with pytest.raises(ValueError, match="not a user message"):
        await anext(aiter(result))  # type: ignore[arg-type]
    assert len(await items_of(store, thread_id)) == 2


async def test_retry_walks_back_across_pages(store: Store[Context]) -> None:
    server = ResponderServer(store)
    server.responder = say(*(f"Part {n}" for n in range(45)))
    thread_id = await new_thread(server)
    message_id = (await items_of(store, thread_id))[0]["id"]
    server.responder = say("Short")
    await stream(server, request("threads.retry_after_item", thread_id=thread_id, item_id=message_id))
    assert [row["id"] for row in await items_of(store, thread_id)] == [message_id, "asst_1"]


def approval_widget(thread: ThreadMetadata) -> WidgetItem:
    return WidgetItem(
        id="widget_1", thread_id=thread.id, created_at=datetime.now(), widget=Card(children=[Text(value="Approve?")])
    )


async def test_custom_action_runs_the_action_hook_with_the_stored_sender(store: Store[Context]) -> None:
    server = ResponderServer(store)

    async def show(thread: ThreadMetadata, _: UserMessageItem | None, __: Context) -> AsyncIterator[ThreadStreamEvent]:
        yield ThreadItemDoneEvent(item=approval_widget(thread))

    async def approve(
        thread: ThreadMetadata, action: Action[str, Any], sender: WidgetItem | None, context: Context
    ) -> AsyncIterator[ThreadStreamEvent]:
        assert sender is not None
        yield ThreadItemReplacedEvent(item=sender.model_copy(update={"copy_text": "approved"}))
        yield ThreadItemDoneEvent(item=assistant(thread, "asst_ok", f"Done: {action.payload}"))

    server.responder = show
    thread_id = await new_thread(server)
    server.on_action = approve
    action = {"type": "approve", "payload": {"ticket": 7}}
    events = await stream(
        server, request("threads.custom_action", thread_id=thread_id, item_id="widget_1", action=action)
    )
    assert types_of(events) == ["stream_options", "thread.item.replaced", "thread.item.done"]
    stored = await store.load_item(thread_id, "widget_1", ALICE)
    assert isinstance(stored, WidgetItem) and stored.copy_text == "approved"
    received_action, sender = server.calls[-1][1]
    assert received_action.type == "approve" and received_action.payload == {"ticket": 7}
    assert isinstance(sender, WidgetItem)


async def test_custom_action_from_a_non_widget_is_one_error_event(store: Store[Context]) -> None:
    server = ResponderServer(store)
    thread_id = await new_thread(server)
    events = await stream(
        server, request("threads.custom_action", thread_id=thread_id, item_id="asst_1", action={"type": "x"})
    )
    assert events == [{"type": "error", "code": "stream.error", "allow_retry": False}]


async def test_custom_action_without_a_handler_ends_with_a_retryable_error(store: Store[Context]) -> None:
    server = ResponderServer(store)
    thread_id = await new_thread(server)
    events = await stream(server, request("threads.custom_action", thread_id=thread_id, action={"type": "x"}))
    assert events == [
        {"type": "stream_options", "stream_options": {"allow_cancel": True}},
        {"type": "error", "code": "stream.error", "allow_retry": True},
    ]


@pytest.mark.parametrize(
    "body",
    [
        request("threads.add_user_message", thread_id="thr_nope", input=user_input("x")),
        request("threads.add_client_tool_output", thread_id="thr_nope", result=None),
        request("threads.add_structured_input", thread_id="thr_nope", item_id="i", input={}),
        request("threads.retry_after_item", thread_id="thr_nope", item_id="i"),
        request("threads.custom_action", thread_id="thr_nope", action={"type": "x"}),
    ],
)
async def test_unknown_threads_raise_not_found_before_anything_is_written(store: Store[Context], body: bytes) -> None:
    server = ResponderServer(store)
    result = await server.process(body, ALICE)
    with pytest.raises(NotFoundError):
        await anext(aiter(result))  # type: ignore[arg-type]
    assert server.calls == []
