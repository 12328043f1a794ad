"""Every plain (JSON) request type through `ChatKitServer.process`, over every store."""

from __future__ import annotations

import base64
import json
import logging
from datetime import datetime
from typing import Any

import pytest
from tests.server.scripted import (
    ALICE,
    BOB,
    Context,
    ResponderServer,
    UploadTargets,
    call,
    loose,
    request,
    say,
    stream,
    user_input,
)

from chatkit.server import ChatKitServer
from chatkit.store import NotFoundError, Store
from chatkit.stores import MemoryStore
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    AudioInput,
    HiddenContextItem,
    Page,
    SDKHiddenContextItem,
    Thread,
    ThreadMetadata,
    TranscriptionResult,
)

CREATED = datetime(2024, 1, 2, 3, 4, 5)


async def seed_threads(store: Store[Context], count: int) -> list[str]:
    ids = [f"thr_{n:02d}" for n in range(count)]
    for thread_id in ids:
        await store.save_thread(ThreadMetadata(id=thread_id, created_at=CREATED, title=thread_id), ALICE)
    return ids


async def seed_items(store: Store[Context], thread_id: str, kinds: str) -> list[str]:
    """Items by letter: a = assistant message, h = hidden context, s = SDK hidden context."""
    await store.save_thread(ThreadMetadata(id=thread_id, created_at=CREATED), ALICE)
    ids = []
    for n, kind in enumerate(kinds):
        item_id = f"item_{n:02d}"
        if kind == "h":
            item: Any = HiddenContextItem(id=item_id, thread_id=thread_id, created_at=CREATED, content={"n": n})
        elif kind == "s":
            item = SDKHiddenContextItem(id=item_id, thread_id=thread_id, created_at=CREATED, content="note")
        else:
            content = [AssistantMessageContent(text=f"answer {n}")]
            item = AssistantMessageItem(id=item_id, thread_id=thread_id, created_at=CREATED, content=content)
        await store.add_thread_item(thread_id, item, ALICE)
        ids.append(item_id)
    return ids


async def test_get_by_id_returns_the_first_twenty_visible_items_oldest_first(store: Store[Context]) -> None:
    ids = await seed_items(store, "thr_long", "ahs" + "a" * 22)
    thread = await call(ResponderServer(store), request("threads.get_by_id", thread_id="thr_long"))
    assert [item["id"] for item in thread["items"]["data"]] == [ids[0], *ids[3:20]]
    assert thread["items"]["has_more"] is True and thread["items"]["after"] == ids[19]
    assert thread["metadata"] == {}


async def test_get_by_id_of_an_unknown_thread_raises(store: Store[Context]) -> None:
    with pytest.raises(NotFoundError):
        await call(ResponderServer(store), request("threads.get_by_id", thread_id="thr_nope"))


async def test_threads_list_pages_both_ways(store: Store[Context]) -> None:
    server = ResponderServer(store)
    ids = await seed_threads(store, 5)
    first = await call(server, request("threads.list", limit=2))
    assert [t["id"] for t in first["data"]] == ids[:2:-1][:2]
    assert (first["has_more"], first["after"]) == (True, ids[3])
    second = await call(server, request("threads.list", limit=2, after=first["after"]))
    third = await call(server, request("threads.list", limit=2, after=second["after"]))
    assert [t["id"] for t in second["data"] + third["data"]] == [ids[2], ids[1], ids[0]]
    assert third["has_more"] is False and "after" not in third
    ascending = await call(server, request("threads.list", limit=3, order="asc"))
    assert [t["id"] for t in ascending["data"]] == ids[:3]
    everything = await call(server, request("threads.list", limit=0, order="asc"))
    assert [t["id"] for t in everything["data"]] == ids
    assert all(t["items"] == {"data": [], "has_more": False} for t in everything["data"])


async def test_threads_list_default_limit_is_twenty(store: Store[Context]) -> None:
    await seed_threads(store, 23)
    page = await call(ResponderServer(store), request("threads.list"))
    assert len(page["data"]) == 20 and page["has_more"] is True


async def test_threads_list_hides_thread_metadata(store: Store[Context]) -> None:
    await store.save_thread(ThreadMetadata(id="thr_secret", created_at=CREATED, metadata={"k": "v"}), ALICE)
    page = await call(ResponderServer(store), request("threads.list"))
    assert page["data"][0]["metadata"] == {}


async def test_items_list_filters_hidden_items_after_paging(store: Store[Context]) -> None:
    server = ResponderServer(store)
    ids = await seed_items(store, "thr_items", "ahasa")
    page = await call(server, request("items.list", thread_id="thr_items", order="asc", limit=2))
    assert [item["id"] for item in page["data"]] == [ids[0]]
    assert page["after"] == ids[1]
    rest = await call(server, request("items.list", thread_id="thr_items", order="asc", limit=2, after=page["after"]))
    assert [item["id"] for item in rest["data"]] == [ids[2]]
    last = await call(server, request("items.list", thread_id="thr_items", order="asc", limit=2, after=rest["after"]))
    assert [item["id"] for item in last["data"]] == [ids[4]] and last["has_more"] is False
    newest = await call(server, request("items.list", thread_id="thr_items"))
    assert [item["id"] for item in newest["data"]] == [ids[4], ids[2], ids[0]]


async def test_threads_update_sets_the_title(store: Store[Context]) -> None:
    server = ResponderServer(store)
    await seed_threads(store, 1)
    updated = await call(server, request("threads.update", thread_id="thr_00", title="Renamed"))
    assert loose(updated) == {
        "title": "Renamed",
        "id": "thr_00",
        "created_at": "<ts>",
        "status": {"type": "active"},
        "metadata": {},
        "items": {"data": [], "has_more": False},
    }
    assert (await store.load_thread("thr_00", ALICE)).title == "Renamed"
    with pytest.raises(NotFoundError):
        await call(server, request("threads.update", thread_id="thr_nope", title="x"))


async def test_threads_delete_removes_the_thread_and_its_items(store: Store[Context]) -> None:
    server = ResponderServer(store)
    events = await stream(server, request("threads.create", input=user_input("Hi")))
    thread_id = events[0]["thread"]["id"]
    assert await call(server, request("threads.delete", thread_id=thread_id)) == {}
    with pytest.raises(NotFoundError):
        await call(server, request("threads.get_by_id", thread_id=thread_id))


async def test_items_feedback_calls_the_hook(store: Store[Context]) -> None:
    server = ResponderServer(store)
    await seed_threads(store, 1)
    body = request("items.feedback", thread_id="thr_00", item_ids=["a", "b"], kind="negative")
    assert await call(server, body) == {}
    assert server.calls == [("add_feedback", ("thr_00", ["a", "b"], "negative"))]


async def test_another_users_thread_and_attachments_are_not_found(store: Store[Context]) -> None:
    uploads = UploadTargets()
    server = ResponderServer(store, uploads)
    await seed_threads(store, 1)
    created = await call(server, request("attachments.create", name="a.txt", size=1, mime_type="text/plain"))
    # process() makes the reference's store calls only (no load first): our stores refuse the
    # foreign ids themselves. Feedback is the hook's business; the HTTP layer checks ownership.
    for body in (
        request("threads.delete", thread_id="thr_00"),
        request("threads.update", thread_id="thr_00", title="mine now"),
        request("attachments.delete", attachment_id=created["id"]),
    ):
        with pytest.raises(NotFoundError):
            await call(server, body, BOB)
    assert server.calls == []
    assert (await store.load_thread("thr_00", ALICE)).title == "thr_00"
    assert (await store.load_attachment(created["id"], ALICE)).name == "a.txt"


async def test_attachments_create_saves_and_delete_removes_from_both_stores(store: Store[Context]) -> None:
    uploads = UploadTargets()
    server = ResponderServer(store, uploads)
    created = await call(server, request("attachments.create", name="notes.pdf", size=3, mime_type="application/pdf"))
    assert loose(created) == {
        "id": "<atc>",
        "name": "notes.pdf",
        "mime_type": "application/pdf",
        "upload_descriptor": {"url": created["upload_descriptor"]["url"], "method": "PUT", "headers": {}},
        "type": "file",
    }
    assert (await store.load_attachment(created["id"], ALICE)).name == "notes.pdf"
    assert await call(server, request("attachments.delete", attachment_id=created["id"])) == {}
    assert uploads.deleted == [created["id"]]
    with pytest.raises(NotFoundError):
        await store.load_attachment(created["id"], ALICE)


async def test_deleting_a_thread_through_process_deletes_its_files(store: Store[Context]) -> None:
    # The server links its two stores itself: no HTTP layer is needed for files to follow threads.
    uploads = UploadTargets()
    server = ResponderServer(store, uploads)
    created = await call(server, request("attachments.create", name="notes.pdf", size=3, mime_type="application/pdf"))
    events = await stream(server, request("threads.create", input=user_input("Hi", attachments=[created["id"]])))
    thread_id = events[0]["thread"]["id"]
    assert await call(server, request("threads.delete", thread_id=thread_id)) == {}
    assert uploads.deleted == [created["id"]]


async def test_attachments_need_an_attachment_store(store: Store[Context]) -> None:
    server = ResponderServer(store)
    with pytest.raises(RuntimeError, match="AttachmentStore"):
        await call(server, request("attachments.create", name="a", size=1, mime_type="text/plain"))
    with pytest.raises(RuntimeError, match="AttachmentStore"):
        await call(server, request("attachments.delete", attachment_id="atc_1"))


class Transcriber(ResponderServer):
    async def transcribe(self, audio_input: AudioInput, context: Context) -> TranscriptionResult:
        return TranscriptionResult(text=f"{len(audio_input.data)} bytes of {audio_input.media_type}")


async def test_input_transcribe_decodes_the_audio(store: Store[Context]) -> None:
    audio = base64.b64encode(b"fake audio").decode()
    body = request("input.transcribe", audio_base64=audio, mime_type="audio/webm;codecs=opus")
    assert await call(Transcriber(store), body) == {"text": "10 bytes of audio/webm"}
    with pytest.raises(ValueError):
        await call(Transcriber(store), request("input.transcribe", audio_base64="abc", mime_type="audio/webm"))
    with pytest.raises(NotImplementedError):
        await call(ResponderServer(store), body)


async def test_sync_custom_action_answers_without_persisting(store: Store[Context]) -> None:
    server = ResponderServer(store)
    await seed_threads(store, 1)
    answer = await call(server, request("threads.sync_custom_action", thread_id="thr_00", action={"type": "ping"}))
    assert answer == {}
    await seed_items(store, "thr_00", "a")
    with pytest.raises(ValueError, match="not a widget"):
        await call(
            server, request("threads.sync_custom_action", thread_id="thr_00", item_id="item_00", action={"type": "x"})
        )


async def test_default_hooks_of_a_minimal_server(store: Store[Context]) -> None:
    class Minimal(ChatKitServer[Context]):
        def respond(self, thread, input_user_message, context):  # type: ignore[override]
            raise AssertionError("not called")

    server = Minimal(store)
    await seed_threads(store, 1)
    assert await call(server, request("items.feedback", thread_id="thr_00", item_ids=[], kind="positive")) == {}
    with pytest.raises(NotImplementedError):
        await call(server, request("threads.sync_custom_action", thread_id="thr_00", action={"type": "x"}))


async def test_thread_listing_bytes_equal_a_serialized_page_of_threads(store: Store[Context]) -> None:
    from chatkit.server.results import encode_json, encode_thread_listing
    from chatkit.types import LockedStatus, Page, Thread

    threads = [
        ThreadMetadata(id='thr_"quoted"', created_at=CREATED, title="ü \\n", metadata={"secret": 1}),
        ThreadMetadata(id="thr_2", created_at=CREATED, status=LockedStatus(reason="r"), allowed_image_domains=["a"]),
    ]
    for has_more, after in ((False, None), (True, 'thr_"quoted"')):
        page = Page[ThreadMetadata](data=threads, has_more=has_more, after=after)
        full = Page[Thread](
            data=[Thread(**thread.model_dump(), items=Page()) for thread in threads], has_more=has_more, after=after
        )
        assert encode_thread_listing(page) == encode_json(full)


@pytest.mark.parametrize("limit", [-1, -1000])
async def test_a_negative_limit_means_the_default_page(store: Store[Context], limit: int) -> None:
    """Found by the fuzzer: a negative limit answered has_more without a cursor, so clients never stopped."""
    await seed_threads(store, 25)
    page = await call(ResponderServer(store), request("threads.list", limit=limit))
    assert len(page["data"]) == 20 and page["has_more"] is True and page["after"] == "thr_05"


class FullThreadStore(MemoryStore):
    """Lists `Thread` objects with their items, as some stores written for the reference do."""

    async def load_threads(self, limit: int, after: str | None, order: str, context: Any) -> Page[ThreadMetadata]:
        page = await super().load_threads(limit, after, order, context)
        rows: list[ThreadMetadata] = []
        for thread in page.data:
            items = await self.load_thread_items(thread.id, None, 20, "asc", context)
            rows.append(Thread(**thread.model_dump(), items=items))
        return Page(data=rows, has_more=page.has_more, after=page.after)


async def test_threads_list_of_full_threads_sends_each_with_an_empty_item_page() -> None:
    store = FullThreadStore()
    server = ResponderServer(store)
    server.responder = say("Hi")
    await stream(server, request("threads.create", input=user_input("Hello")))
    result = await server.process(request("threads.list"), ALICE)
    raw = result.json  # type: ignore[union-attr]
    assert raw.count(b'"items"') == 1
    (listed,) = json.loads(raw)["data"]
    assert listed["items"] == {"data": [], "has_more": False}


async def test_every_request_logs_its_type(caplog: pytest.LogCaptureFixture) -> None:
    server = ResponderServer(MemoryStore())
    with caplog.at_level(logging.INFO, logger="chatkit"):
        await call(server, request("threads.list"))
    assert [record.getMessage() for record in caplog.records] == ["Received request op: threads.list"]
