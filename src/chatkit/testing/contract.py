"""The store contracts as base classes: hold a `Store` (or an `AttachmentStore`) of your own to
what the server relies on.

    from chatkit.testing.contract import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        async def store(self):
            async with MyStore(...) as store:
                yield store

pytest then runs every test of the contract against your store: threads and items round trip,
paging in both orders, upserts, deletes, attachments, not-found errors, and isolation between
two users (`contexts`, by default `{"user_id": "alice"}` and `{"user_id": "bob"}`; override the
fixture for contexts of your own). `AttachmentStoreContract` does the same for an attachment
store given by the `attachment_store` fixture: what `attachments.create` answers, distinct ids,
and deletes that may be retried. The tests are coroutines: run them with pytest-asyncio (in
`auto` mode, or the class's `asyncio` mark). This module imports pytest: it is kept out of
`chatkit.testing` so that the kit itself does not need it.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter

from chatkit.store import AttachmentStore, NotFoundError, Store
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    Attachment,
    AttachmentCreateParams,
    FileAttachment,
    InferenceOptions,
    Page,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)

_START = datetime(2026, 1, 1, 12, 0, 0)


def _thread(thread_id: str, minutes: int = 0, title: str | None = None) -> ThreadMetadata:
    return ThreadMetadata(id=thread_id, created_at=_START + timedelta(minutes=minutes), title=title)


def _user_message(thread_id: str, item_id: str, text: str = "hello", minutes: int = 0) -> UserMessageItem:
    return UserMessageItem(
        id=item_id,
        thread_id=thread_id,
        created_at=_START + timedelta(minutes=minutes),
        content=[UserMessageTextContent(text=text)],
        attachments=[],
        inference_options=InferenceOptions(),
    )


def _answer(thread_id: str, item_id: str, text: str) -> AssistantMessageItem:
    return AssistantMessageItem(
        id=item_id, thread_id=thread_id, created_at=_START, content=[AssistantMessageContent(text=text)]
    )


def _ids(page: Page[Any]) -> list[str]:
    return [row.id for row in page.data]


async def _walk(load: Any, limit: int, order: str) -> list[str]:
    """Every id of a listing, page by page, checking `has_more` and `after` on the way."""
    seen: list[str] = []
    after: str | None = None
    for _ in range(1000):
        page: Page[Any] = await load(limit, after, order)
        assert len(page.data) <= limit, f"a page of limit {limit} held {len(page.data)} rows"
        seen.extend(_ids(page))
        if not page.has_more:
            return seen
        assert page.data, "has_more with an empty page"
        assert page.after == page.data[-1].id, f"page.after is {page.after!r}, not the last row's id"
        after = page.after
    raise AssertionError("the listing never ended (has_more stayed true)")


@pytest.mark.asyncio
class _TwoUsers:
    """What both contracts share: coroutine tests, and the contexts of two users."""

    @pytest.fixture
    def contexts(self) -> tuple[Any, Any]:
        """Two request contexts of two different users (override for contexts of your own)."""
        return {"user_id": "alice"}, {"user_id": "bob"}


class StoreContract(_TwoUsers):
    """The contract every `Store` is held to; subclass it and give the `store` fixture."""

    @pytest.fixture
    def store(self) -> Store[Any]:
        """Your store, open and empty; override this fixture."""
        raise NotImplementedError("give the contract your store: override the `store` fixture")

    async def test_a_thread_round_trips(self, store: Store[Any], contexts: tuple[Any, Any]) -> None:
        alice, _ = contexts
        saved = _thread("thr_round", title="Plans")
        saved.metadata = {"topic": "trips", "tags": ["a", "b"]}
        await store.save_thread(saved, alice)
        loaded = await store.load_thread("thr_round", alice)
        assert (loaded.id, loaded.title, loaded.metadata) == ("thr_round", "Plans", saved.metadata)
        assert loaded.created_at == saved.created_at, "created_at changed on the way through the store"

    async def test_saving_a_thread_again_updates_it(self, store: Store[Any], contexts: tuple[Any, Any]) -> None:
        alice, _ = contexts
        await store.save_thread(_thread("thr_again", title="Old"), alice)
        await store.save_thread(_thread("thr_again", title="New"), alice)
        assert (await store.load_thread("thr_again", alice)).title == "New"
        assert _ids(await store.load_threads(10, None, "asc", alice)).count("thr_again") == 1, "saved twice"

    async def test_what_does_not_exist_is_not_found(self, store: Store[Any], contexts: tuple[Any, Any]) -> None:
        alice, _ = contexts
        with pytest.raises(NotFoundError):
            await store.load_thread("thr_missing", alice)
        await store.save_thread(_thread("thr_here"), alice)
        with pytest.raises(NotFoundError):
            await store.load_item("thr_here", "msg_missing", alice)
        with pytest.raises(NotFoundError):
            await store.load_attachment("atc_missing", alice)

    async def test_threads_page_in_both_orders(self, store: Store[Any], contexts: tuple[Any, Any]) -> None:
        alice, _ = contexts
        created = [f"thr_{index:02d}" for index in range(7)]
        for index, thread_id in enumerate(created):
            await store.save_thread(_thread(thread_id, minutes=index), alice)

        async def load(limit: int, after: str | None, order: str) -> Page[ThreadMetadata]:
            return await store.load_threads(limit, after, order, alice)

        assert await _walk(load, 3, "asc") == created, "threads.list asc is oldest first"
        assert await _walk(load, 3, "desc") == created[::-1], "threads.list desc is newest first"
        assert await _walk(load, 100, "desc") == created[::-1]

    async def test_items_keep_their_order_and_page(self, store: Store[Any], contexts: tuple[Any, Any]) -> None:
        alice, _ = contexts
        await store.save_thread(_thread("thr_items"), alice)
        added = [f"msg_{index:02d}" for index in range(7)]
        for index, item_id in enumerate(added):
            await store.add_thread_item("thr_items", _user_message("thr_items", item_id, minutes=index), alice)

        async def load(limit: int, after: str | None, order: str) -> Page[Any]:
            return await store.load_thread_items("thr_items", after, limit, order, alice)

        assert await _walk(load, 3, "asc") == added, "items come back in the order they were added"
        assert await _walk(load, 3, "desc") == added[::-1]
        item = await store.load_item("thr_items", "msg_03", alice)
        assert isinstance(item, UserMessageItem) and item.content == [UserMessageTextContent(text="hello")]

    async def test_items_added_at_once_are_all_kept(self, store: Store[Any], contexts: tuple[Any, Any]) -> None:
        alice, _ = contexts
        await store.save_thread(_thread("thr_busy"), alice)
        items = [_user_message("thr_busy", f"msg_{index:02d}") for index in range(20)]
        await asyncio.gather(*(store.add_thread_item("thr_busy", item, alice) for item in items))
        page = await store.load_thread_items("thr_busy", None, 100, "asc", alice)
        assert sorted(_ids(page)) == sorted(item.id for item in items), "concurrent adds lost or doubled items"

    async def test_save_item_replaces_an_item(self, store: Store[Any], contexts: tuple[Any, Any]) -> None:
        alice, _ = contexts
        await store.save_thread(_thread("thr_edit"), alice)
        await store.add_thread_item("thr_edit", _answer("thr_edit", "msg_a", "draft"), alice)
        await store.save_item("thr_edit", _answer("thr_edit", "msg_a", "final"), alice)
        item = await store.load_item("thr_edit", "msg_a", alice)
        assert isinstance(item, AssistantMessageItem) and item.content[0].text == "final"
        assert _ids(await store.load_thread_items("thr_edit", None, 10, "asc", alice)) == ["msg_a"]

    async def test_deletes(self, store: Store[Any], contexts: tuple[Any, Any]) -> None:
        alice, _ = contexts
        await store.save_thread(_thread("thr_gone"), alice)
        for item_id in ("msg_1", "msg_2"):
            await store.add_thread_item("thr_gone", _user_message("thr_gone", item_id), alice)
        await store.delete_thread_item("thr_gone", "msg_1", alice)
        assert _ids(await store.load_thread_items("thr_gone", None, 10, "asc", alice)) == ["msg_2"]
        await store.delete_thread("thr_gone", alice)
        with pytest.raises(NotFoundError):
            await store.load_thread("thr_gone", alice)
        assert "thr_gone" not in _ids(await store.load_threads(100, None, "asc", alice))

    async def test_attachments_round_trip_and_delete(self, store: Store[Any], contexts: tuple[Any, Any]) -> None:
        alice, _ = contexts
        attachment = FileAttachment(id="atc_1", name="notes.txt", mime_type="text/plain")
        await store.save_attachment(attachment, alice)
        loaded = await store.load_attachment("atc_1", alice)
        assert (loaded.id, loaded.name, loaded.mime_type) == ("atc_1", "notes.txt", "text/plain")
        await store.delete_attachment("atc_1", alice)
        with pytest.raises(NotFoundError):
            await store.load_attachment("atc_1", alice)

    async def test_one_user_never_reaches_anothers_data(self, store: Store[Any], contexts: tuple[Any, Any]) -> None:
        alice, bob = contexts
        await store.save_thread(_thread("thr_alice"), alice)
        await store.add_thread_item("thr_alice", _user_message("thr_alice", "msg_secret", "secret"), alice)
        await store.save_attachment(FileAttachment(id="atc_alice", name="a.txt", mime_type="text/plain"), alice)
        assert "thr_alice" not in _ids(await store.load_threads(100, None, "asc", bob)), "bob lists alice's thread"
        with pytest.raises(NotFoundError):
            await store.load_thread("thr_alice", bob)
        with pytest.raises(NotFoundError):
            await store.load_item("thr_alice", "msg_secret", bob)
        with pytest.raises(NotFoundError):
            await store.load_attachment("atc_alice", bob)
        # Bob's deletes must not reach alice's rows, whether they raise or do nothing.
        for delete in (
            store.delete_thread("thr_alice", bob),
            store.delete_thread_item("thr_alice", "msg_secret", bob),
            store.delete_attachment("atc_alice", bob),
        ):
            with contextlib.suppress(NotFoundError):
                await delete
        assert (await store.load_thread("thr_alice", alice)).id == "thr_alice", "bob deleted alice's thread"
        assert (await store.load_item("thr_alice", "msg_secret", alice)).id == "msg_secret", "bob deleted her item"
        assert (await store.load_attachment("atc_alice", alice)).id == "atc_alice", "bob deleted her attachment"

    async def test_generated_ids_are_distinct(self, store: Store[Any], contexts: tuple[Any, Any]) -> None:
        alice, _ = contexts
        thread = _thread("thr_ids")
        thread_ids = {store.generate_thread_id(alice) for _ in range(200)}
        item_ids = {store.generate_item_id("message", thread, alice) for _ in range(200)}
        assert len(thread_ids) == 200 and len(item_ids) == 200, "generated ids repeat"
        assert not thread_ids & item_ids


_ATTACHMENT = TypeAdapter[Attachment](Attachment)


class AttachmentStoreContract(_TwoUsers):
    """The contract every `AttachmentStore` is held to; subclass it and give the `attachment_store` fixture.

    It checks what `attachments.create` and `attachments.delete` rely on, through the abstract
    interface only; how bytes are uploaded, limited and served is the store's own business.
    """

    @pytest.fixture
    def attachment_store(self) -> AttachmentStore[Any]:
        """Your attachment store, ready and empty; override this fixture."""
        raise NotImplementedError("give the contract your attachment store: override the `attachment_store` fixture")

    async def test_create_answers_with_the_name_and_type_asked(
        self, attachment_store: AttachmentStore[Any], contexts: tuple[Any, Any]
    ) -> None:
        alice, _ = contexts
        for name, mime_type in (("notes.txt", "text/plain"), ("photo.png", "image/png")):
            params = AttachmentCreateParams(name=name, size=12, mime_type=mime_type)
            attachment = await attachment_store.create_attachment(params, alice)
            assert attachment.id, "create_attachment gave an attachment without an id"
            assert (attachment.name, attachment.mime_type) == (name, mime_type), "name or type changed"

    async def test_a_created_attachment_survives_the_wire_and_the_store(
        self, attachment_store: AttachmentStore[Any], contexts: tuple[Any, Any]
    ) -> None:
        # The server saves what create_attachment returns in the Store and sends it to the
        # browser as JSON, so it must come back from its JSON unchanged.
        alice, _ = contexts
        params = AttachmentCreateParams(name="report.pdf", size=2048, mime_type="application/pdf")
        attachment = await attachment_store.create_attachment(params, alice)
        again = _ATTACHMENT.validate_json(_ATTACHMENT.dump_json(attachment))
        assert again == attachment, "the attachment does not round-trip through its JSON"

    async def test_ids_are_distinct(self, attachment_store: AttachmentStore[Any], contexts: tuple[Any, Any]) -> None:
        alice, bob = contexts
        params = AttachmentCreateParams(name="a.txt", size=1, mime_type="text/plain")
        created = [await attachment_store.create_attachment(params, alice) for _ in range(20)]
        created += [await attachment_store.create_attachment(params, bob) for _ in range(20)]
        assert len({attachment.id for attachment in created}) == 40, "create_attachment repeated an id"
        generated = {attachment_store.generate_attachment_id("text/plain", alice) for _ in range(200)}
        assert len(generated) == 200, "generate_attachment_id repeated an id"

    async def test_delete_removes_and_deleting_again_is_harmless(
        self, attachment_store: AttachmentStore[Any], contexts: tuple[Any, Any]
    ) -> None:
        alice, _ = contexts
        params = AttachmentCreateParams(name="a.txt", size=1, mime_type="text/plain")
        attachment = await attachment_store.create_attachment(params, alice)
        await attachment_store.delete_attachment(attachment.id, alice)
        # A retried delete, or one racing another, must not fail in any other way.
        with contextlib.suppress(NotFoundError):
            await attachment_store.delete_attachment(attachment.id, alice)
        with contextlib.suppress(NotFoundError):
            await attachment_store.delete_attachment("atc_never_created", alice)
