"""The store contract, run against every backend through the `store` fixture."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

import pytest

from chatkit.store import AttachmentStore, NotFoundError
from chatkit.stores import IdConflictError, ScopedStore, ScopeError
from chatkit.types import (
    AttachmentUploadDescriptor,
    ClosedStatus,
    FileAttachment,
    ImageAttachment,
    Page,
    Thread,
    ThreadItem,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)

from .samples import FIXED_TIME, ITEM_KINDS, assistant_message, golden_items, item_for, thread, user_message

ALICE = {"user_id": "alice"}
BOB = {"user_id": "bob"}


def ids(page: Page[Any]) -> list[str]:
    return [row.id for row in page.data]


def file_attachment(attachment_id: str, thread_id: str | None = None) -> FileAttachment:
    return FileAttachment(
        id=attachment_id,
        name="report.pdf",
        mime_type="application/pdf",
        thread_id=thread_id,
        upload_descriptor=AttachmentUploadDescriptor(
            url="https://uploads.example.test/x",  # pyright: ignore[reportArgumentType]
            method="POST",
            headers={"x-token": "1"},
        ),
        metadata={"storage_key": "bucket/" + attachment_id},
    )


async def thread_with_items(store: ScopedStore, thread_id: str, count: int, context: Any = ALICE) -> list[str]:
    await store.save_thread(thread(thread_id), context)
    item_ids = [f"msg_{index:03d}" for index in range(count)]
    for item_id in item_ids:
        await store.add_thread_item(thread_id, user_message(thread_id, item_id), context)
    return item_ids


# -- threads -------------------------------------------------------------------------------------


async def test_thread_round_trips_every_field(store: ScopedStore) -> None:
    saved = ThreadMetadata(
        id="thr_1",
        title="Quarterly report",
        created_at=FIXED_TIME,
        status=ClosedStatus(reason="done"),
        allowed_image_domains=["images.example.test"],
        metadata={"previous_response_id": "resp_1", "nested": {"n": [1, 2.5, None, True]}},
    )
    await store.save_thread(saved, ALICE)
    loaded = await store.load_thread("thr_1", ALICE)
    assert type(loaded) is ThreadMetadata
    assert loaded == saved


async def test_a_full_thread_is_stored_as_its_metadata(store: ScopedStore) -> None:
    full = Thread(
        id="thr_1",
        created_at=FIXED_TIME,
        title="t",
        items=Page(data=[user_message("thr_1", "msg_1")], has_more=False),
    )
    await store.save_thread(full, ALICE)
    loaded = await store.load_thread("thr_1", ALICE)
    assert type(loaded) is ThreadMetadata
    assert loaded == ThreadMetadata(id="thr_1", created_at=FIXED_TIME, title="t")
    assert ids(await store.load_thread_items("thr_1", None, 10, "asc", ALICE)) == []


async def test_save_thread_updates_in_place(store: ScopedStore) -> None:
    for thread_id in ("thr_a", "thr_b", "thr_c"):
        await store.save_thread(thread(thread_id), ALICE)
    await store.save_thread(thread("thr_a", title="renamed").model_copy(update={"status": ClosedStatus()}), ALICE)
    assert ids(await store.load_threads(10, None, "asc", ALICE)) == ["thr_a", "thr_b", "thr_c"]
    loaded = await store.load_thread("thr_a", ALICE)
    assert (loaded.title, loaded.status) == ("renamed", ClosedStatus())


async def test_missing_thread_is_not_found(store: ScopedStore) -> None:
    with pytest.raises(NotFoundError):
        await store.load_thread("thr_missing", ALICE)
    with pytest.raises(NotFoundError):
        await store.load_thread_items("thr_missing", None, 10, "asc", ALICE)
    with pytest.raises(NotFoundError):
        await store.add_thread_item("thr_missing", user_message("thr_missing", "msg_1"), ALICE)
    with pytest.raises(NotFoundError):
        await store.save_item("thr_missing", user_message("thr_missing", "msg_1"), ALICE)
    with pytest.raises(NotFoundError):
        await store.load_item("thr_missing", "msg_1", ALICE)
    with pytest.raises(NotFoundError):
        await store.delete_thread_item("thr_missing", "msg_1", ALICE)


async def test_rows_are_copied_in_and_out(store: ScopedStore) -> None:
    meta = thread("thr_1", title="before")
    await store.save_thread(meta, ALICE)
    meta.title = "mutated after saving"
    item = user_message("thr_1", "msg_1", "before")
    await store.add_thread_item("thr_1", item, ALICE)
    item.content[0] = UserMessageTextContent(text="mutated after saving")
    loaded = await store.load_item("thr_1", "msg_1", ALICE)
    assert isinstance(loaded, UserMessageItem)
    loaded.content.clear()
    assert (await store.load_thread("thr_1", ALICE)).title == "before"
    assert await store.load_item("thr_1", "msg_1", ALICE) == user_message("thr_1", "msg_1", "before")


# -- items ---------------------------------------------------------------------------------------


async def test_every_item_kind_from_the_golden_transcripts_round_trips(store: ScopedStore) -> None:
    samples = golden_items()
    assert {sample["type"] for sample in samples} == ITEM_KINDS
    await store.save_thread(thread("thr_1"), ALICE)
    expected: list[ThreadItem] = []
    for index, sample in enumerate(samples):
        item = item_for("thr_1", f"item_{index:04d}", sample)
        await store.add_thread_item("thr_1", item, ALICE)
        expected.append(item)
    for item in expected:
        assert await store.load_item("thr_1", item.id, ALICE) == item
    page = await store.load_thread_items("thr_1", None, len(expected), "asc", ALICE)
    assert page.data == expected
    assert not page.has_more


async def test_adding_an_item_again_updates_it_in_place(store: ScopedStore) -> None:
    await thread_with_items(store, "thr_1", 3)
    await store.add_thread_item("thr_1", user_message("thr_1", "msg_001", "edited"), ALICE)
    page = await store.load_thread_items("thr_1", None, 10, "asc", ALICE)
    assert ids(page) == ["msg_000", "msg_001", "msg_002"]
    assert page.data[1] == user_message("thr_1", "msg_001", "edited")


async def test_adding_another_item_under_a_taken_id_is_a_conflict(store: ScopedStore) -> None:
    await thread_with_items(store, "thr_1", 2)
    later = user_message("thr_1", "msg_001", "someone else").model_copy(
        update={"created_at": FIXED_TIME + timedelta(seconds=1)}
    )
    for intruder in (assistant_message("thr_1", "msg_001", "other kind"), later):
        with pytest.raises(IdConflictError):
            await store.add_thread_item("thr_1", intruder, ALICE)
    assert (await store.load_thread_items("thr_1", None, 10, "asc", ALICE)).data == [
        user_message("thr_1", "msg_000"),
        user_message("thr_1", "msg_001"),
    ]
    # Saving is the explicit replacement, and the same id in another thread is another row.
    await store.save_item("thr_1", later, ALICE)
    assert await store.load_item("thr_1", "msg_001", ALICE) == later
    await thread_with_items(store, "thr_2", 2)
    assert await store.load_item("thr_2", "msg_001", ALICE) == user_message("thr_2", "msg_001")
    assert await store.load_item("thr_1", "msg_001", ALICE) == later


async def test_saving_another_thread_under_a_taken_id_is_a_conflict(store: ScopedStore) -> None:
    await thread_with_items(store, "thr_1", 1)
    other = ThreadMetadata(id="thr_1", title="someone else", created_at=FIXED_TIME + timedelta(microseconds=1))
    with pytest.raises(IdConflictError):
        await store.save_thread(other, ALICE)
    assert await store.load_thread("thr_1", ALICE) == thread("thr_1")
    assert ids(await store.load_thread_items("thr_1", None, 10, "asc", ALICE)) == ["msg_000"]


async def test_save_item_upserts(store: ScopedStore) -> None:
    await thread_with_items(store, "thr_1", 2)
    await store.save_item("thr_1", assistant_message("thr_1", "msg_000", "edited"), ALICE)
    await store.save_item("thr_1", assistant_message("thr_1", "msg_new", "appended"), ALICE)
    page = await store.load_thread_items("thr_1", None, 10, "asc", ALICE)
    assert ids(page) == ["msg_000", "msg_001", "msg_new"]
    assert page.data[0] == assistant_message("thr_1", "msg_000", "edited")
    assert page.data[2] == assistant_message("thr_1", "msg_new", "appended")


async def test_items_of_one_thread_stay_in_it(store: ScopedStore) -> None:
    await thread_with_items(store, "thr_1", 2)
    await thread_with_items(store, "thr_2", 1)
    assert ids(await store.load_thread_items("thr_2", None, 10, "asc", ALICE)) == ["msg_000"]
    await store.delete_thread_item("thr_2", "msg_000", ALICE)
    assert ids(await store.load_thread_items("thr_1", None, 10, "asc", ALICE)) == ["msg_000", "msg_001"]
    with pytest.raises(NotFoundError):
        await store.load_item("thr_2", "msg_001", ALICE)


async def test_delete_thread_item(store: ScopedStore) -> None:
    await thread_with_items(store, "thr_1", 3)
    await store.delete_thread_item("thr_1", "msg_001", ALICE)
    await store.delete_thread_item("thr_1", "msg_001", ALICE)
    await store.delete_thread_item("thr_1", "msg_never", ALICE)
    assert ids(await store.load_thread_items("thr_1", None, 10, "asc", ALICE)) == ["msg_000", "msg_002"]
    with pytest.raises(NotFoundError):
        await store.load_item("thr_1", "msg_001", ALICE)


async def test_concurrent_adds_are_all_kept_in_insertion_order(store: ScopedStore) -> None:
    await store.save_thread(thread("thr_1"), ALICE)
    waves = [[f"msg_{wave}_{index:02d}" for index in range(10)] for wave in range(10)]
    for wave in waves:
        # Ten tasks at once, ten times: within a wave any order, but waves never interleave.
        await asyncio.gather(*(store.add_thread_item("thr_1", user_message("thr_1", i), ALICE) for i in wave))
    asc = ids(await store.load_thread_items("thr_1", None, 1000, "asc", ALICE))
    assert len(asc) == len(set(asc)) == 100
    for number, wave in enumerate(waves):
        assert set(asc[number * 10 : number * 10 + 10]) == set(wave)
    assert ids(await store.load_thread_items("thr_1", None, 1000, "desc", ALICE)) == asc[::-1]
    paged: list[str] = []
    after = None
    while True:
        page = await store.load_thread_items("thr_1", after, 7, "asc", ALICE)
        paged += ids(page)
        if not page.has_more:
            break
        after = page.after
    assert paged == asc


async def test_one_hundred_concurrent_adds(store: ScopedStore) -> None:
    await store.save_thread(thread("thr_1"), ALICE)
    item_ids = [f"msg_{index:03d}" for index in range(100)]
    await asyncio.gather(*(store.add_thread_item("thr_1", user_message("thr_1", i), ALICE) for i in item_ids))
    listed = ids(await store.load_thread_items("thr_1", None, 200, "asc", ALICE))
    assert sorted(listed) == item_ids


async def test_sequential_adds_keep_insertion_order_not_id_order(store: ScopedStore) -> None:
    await store.save_thread(thread("thr_1"), ALICE)
    item_ids = ["msg_z", "msg_a", "msg_m", "msg_b"]
    for item_id in item_ids:
        await store.add_thread_item("thr_1", user_message("thr_1", item_id), ALICE)
    assert ids(await store.load_thread_items("thr_1", None, 10, "asc", ALICE)) == item_ids


# -- paging --------------------------------------------------------------------------------------


async def walk(store: ScopedStore, listing: str, order: str, limit: int) -> list[Page[Any]]:
    pages: list[Page[Any]] = []
    after = None
    while True:
        if listing == "threads":
            page = await store.load_threads(limit, after, order, ALICE)
        else:
            page = await store.load_thread_items("thr_items", after, limit, order, ALICE)
        pages.append(page)
        if not page.has_more:
            return pages
        assert page.after == page.data[-1].id
        after = page.after


@pytest.mark.parametrize("listing", ["threads", "items"])
async def test_paging_edges(store: ScopedStore, listing: str) -> None:
    if listing == "threads":
        for index in range(5):
            await store.save_thread(thread(f"thr_{index}"), ALICE)  # created_at ties on purpose
        rows = [f"thr_{index}" for index in range(5)]
    else:
        rows = await thread_with_items(store, "thr_items", 5)

    async def page(after: str | None, limit: int, order: str) -> Page[Any]:
        if listing == "threads":
            return await store.load_threads(limit, after, order, ALICE)
        return await store.load_thread_items("thr_items", after, limit, order, ALICE)

    for order, expected in (("asc", rows), ("desc", rows[::-1])):
        for limit in (1, 2, 4, 5, 6, 100):
            pages = await walk(store, listing, order, limit)
            assert [row for p in pages for row in ids(p)] == expected
            assert all(len(p.data) == limit for p in pages[:-1])
            assert pages[-1].after is None
        first = await page(None, 5, order)
        assert (ids(first), first.has_more, first.after) == (expected, False, None)
        larger = await page(None, 50, order)
        assert (ids(larger), larger.has_more, larger.after) == (expected, False, None)
        short = await page(None, 4, order)
        assert (ids(short), short.has_more, short.after) == (expected[:4], True, expected[3])
        at_first = await page(expected[0], 2, order)
        assert (ids(at_first), at_first.has_more, at_first.after) == (expected[1:3], True, expected[2])
        before_last = await page(expected[-2], 2, order)
        assert (ids(before_last), before_last.has_more, before_last.after) == (expected[-1:], False, None)
        at_last = await page(expected[-1], 2, order)
        assert (ids(at_last), at_last.has_more, at_last.after) == ([], False, None)
        with pytest.raises(NotFoundError):
            await page("no_such_row", 2, order)


async def test_empty_listings(store: ScopedStore) -> None:
    assert await store.load_threads(20, None, "desc", ALICE) == Page(data=[], has_more=False, after=None)
    await store.save_thread(thread("thr_1"), ALICE)
    assert await store.load_thread_items("thr_1", None, 20, "desc", ALICE) == Page(data=[], has_more=False)
    with pytest.raises(NotFoundError):
        await store.load_threads(20, "thr_missing", "desc", ALICE)


@pytest.mark.parametrize("limit", [2**63 - 1, 2**80])
async def test_a_huge_limit_is_capped_not_an_overflow(store: ScopedStore, limit: int) -> None:
    """Found by the fuzzer: `limit + 1` overflowed the database integer (a 500 over HTTP)."""
    rows = await thread_with_items(store, "thr_1", 3)
    assert ids(await store.load_thread_items("thr_1", None, limit, "asc", ALICE)) == rows
    assert [row.id for row in (await store.load_threads(limit, None, "asc", ALICE)).data] == ["thr_1"]


async def test_a_non_positive_limit_is_the_default_page(store: ScopedStore) -> None:
    rows = await thread_with_items(store, "thr_1", 25)
    for limit in (0, -5):
        page = await store.load_thread_items("thr_1", None, limit, "asc", ALICE)
        assert ids(page) == rows[:20] and page.has_more and page.after == rows[19]


async def test_paging_is_stable_while_rows_are_added(store: ScopedStore) -> None:
    rows = await thread_with_items(store, "thr_1", 6)
    first = await store.load_thread_items("thr_1", None, 3, "asc", ALICE)
    await store.add_thread_item("thr_1", user_message("thr_1", "msg_late"), ALICE)
    second = await store.load_thread_items("thr_1", first.after, 3, "asc", ALICE)
    third = await store.load_thread_items("thr_1", second.after, 3, "asc", ALICE)
    assert ids(first) + ids(second) + ids(third) == [*rows, "msg_late"]
    newest = await store.load_thread_items("thr_1", None, 2, "desc", ALICE)
    await store.add_thread_item("thr_1", user_message("thr_1", "msg_later"), ALICE)
    older = await store.load_thread_items("thr_1", newest.after, 2, "desc", ALICE)
    assert ids(newest) + ids(older) == ["msg_late", "msg_005", "msg_004", "msg_003"]


# -- deleting threads and attachments -------------------------------------------------------------


async def test_delete_thread_removes_items_and_its_attachments(store: ScopedStore) -> None:
    await thread_with_items(store, "thr_1", 3)
    await thread_with_items(store, "thr_2", 2)
    await store.save_attachment(file_attachment("atc_1", "thr_1"), ALICE)
    await store.save_attachment(file_attachment("atc_2", "thr_2"), ALICE)
    await store.save_attachment(file_attachment("atc_loose"), ALICE)
    await store.delete_thread("thr_1", ALICE)
    with pytest.raises(NotFoundError):
        await store.load_thread("thr_1", ALICE)
    with pytest.raises(NotFoundError):
        await store.load_thread_items("thr_1", None, 10, "asc", ALICE)
    with pytest.raises(NotFoundError):
        await store.load_attachment("atc_1", ALICE)
    assert ids(await store.load_threads(10, None, "asc", ALICE)) == ["thr_2"]
    assert ids(await store.load_thread_items("thr_2", None, 10, "asc", ALICE)) == ["msg_000", "msg_001"]
    assert (await store.load_attachment("atc_2", ALICE)).id == "atc_2"
    assert (await store.load_attachment("atc_loose", ALICE)).id == "atc_loose"
    for gone in ("thr_1", "thr_never"):
        with pytest.raises(NotFoundError):
            await store.delete_thread(gone, ALICE)
    await store.save_thread(thread("thr_1"), ALICE)
    assert ids(await store.load_thread_items("thr_1", None, 10, "asc", ALICE)) == []


async def test_attachments_round_trip_upsert_and_delete(store: ScopedStore) -> None:
    image = ImageAttachment(
        id="atc_img",
        name="cat.png",
        mime_type="image/png",
        preview_url="https://cdn.example.test/cat.png",  # pyright: ignore[reportArgumentType]
        metadata={"k": [1, {"v": None}]},
    )
    document = file_attachment("atc_doc")
    await store.save_attachment(image, ALICE)
    await store.save_attachment(document, ALICE)
    assert await store.load_attachment("atc_img", ALICE) == image
    assert await store.load_attachment("atc_doc", ALICE) == document
    stamped = document.model_copy(update={"thread_id": "thr_1"})
    await store.save_attachment(stamped, ALICE)
    assert await store.load_attachment("atc_doc", ALICE) == stamped
    await store.delete_attachment("atc_doc", ALICE)
    for gone in ("atc_doc", "atc_never"):
        with pytest.raises(NotFoundError):
            await store.delete_attachment(gone, ALICE)
    with pytest.raises(NotFoundError):
        await store.load_attachment("atc_doc", ALICE)
    with pytest.raises(NotFoundError):
        await store.load_attachment("atc_never", ALICE)
    assert await store.load_attachment("atc_img", ALICE) == image


# -- tenants -------------------------------------------------------------------------------------


async def test_tenants_never_see_or_change_each_other(store: ScopedStore) -> None:
    await thread_with_items(store, "thr_a", 2)
    await store.save_attachment(file_attachment("atc_a", "thr_a"), ALICE)

    async def alice_unchanged() -> None:
        assert ids(await store.load_threads(10, None, "asc", ALICE)) == ["thr_a"]
        assert await store.load_thread("thr_a", ALICE) == thread("thr_a")
        page = await store.load_thread_items("thr_a", None, 10, "asc", ALICE)
        assert page.data == [user_message("thr_a", "msg_000"), user_message("thr_a", "msg_001")]
        assert await store.load_attachment("atc_a", ALICE) == file_attachment("atc_a", "thr_a")

    assert await store.load_threads(10, None, "asc", BOB) == Page(data=[], has_more=False)
    with pytest.raises(NotFoundError):
        await store.load_threads(10, "thr_a", "asc", BOB)
    with pytest.raises(NotFoundError):
        await store.load_thread("thr_a", BOB)
    with pytest.raises(NotFoundError):
        await store.load_thread_items("thr_a", None, 10, "asc", BOB)
    with pytest.raises(NotFoundError):
        await store.load_item("thr_a", "msg_000", BOB)
    with pytest.raises(NotFoundError):
        await store.add_thread_item("thr_a", assistant_message("thr_a", "msg_000", "bob was here"), BOB)
    with pytest.raises(NotFoundError):
        await store.save_item("thr_a", assistant_message("thr_a", "msg_bob", "bob was here"), BOB)
    with pytest.raises(NotFoundError):
        await store.delete_thread_item("thr_a", "msg_000", BOB)
    with pytest.raises(NotFoundError):
        await store.load_attachment("atc_a", BOB)
    # The pipeline deletes without loading first: the store itself refuses another tenant's ids.
    with pytest.raises(NotFoundError):
        await store.delete_attachment("atc_a", BOB)
    with pytest.raises(NotFoundError):
        await store.delete_thread("thr_a", BOB)
    await alice_unchanged()

    # Bob may use the same ids: he gets rows of his own, and Alice's stay as they were.
    await store.save_thread(thread("thr_a", title="bob's"), BOB)
    await store.add_thread_item("thr_a", assistant_message("thr_a", "msg_000", "bob's"), BOB)
    await store.save_attachment(file_attachment("atc_a").model_copy(update={"name": "bob.txt"}), BOB)
    await alice_unchanged()
    assert (await store.load_thread("thr_a", BOB)).title == "bob's"
    assert ids(await store.load_thread_items("thr_a", None, 10, "asc", BOB)) == ["msg_000"]
    assert (await store.load_attachment("atc_a", BOB)).name == "bob.txt"
    await store.delete_thread("thr_a", BOB)
    await store.delete_attachment("atc_a", BOB)
    await alice_unchanged()


class _Request:
    def __init__(self, user_id: object) -> None:
        self.user_id = user_id


async def test_the_scope_comes_from_an_attribute_or_a_key(store: ScopedStore) -> None:
    await store.save_thread(thread("thr_1"), _Request("alice"))
    assert (await store.load_thread("thr_1", ALICE)).id == "thr_1"
    await store.save_thread(thread("thr_2"), _Request(42))
    assert (await store.load_thread("thr_2", {"user_id": 42})).id == "thr_2"


@pytest.mark.parametrize("context", [{}, {"user_id": None}, {"user_id": ""}, None, _Request(None)])
async def test_a_context_without_a_scope_is_refused(store: ScopedStore, context: Any) -> None:
    await store.save_thread(thread("thr_1"), ALICE)
    calls = [
        store.load_thread("thr_1", context),
        store.save_thread(thread("thr_1"), context),
        store.load_threads(10, None, "asc", context),
        store.delete_thread("thr_1", context),
        store.load_thread_items("thr_1", None, 10, "asc", context),
        store.add_thread_item("thr_1", user_message("thr_1", "msg_1"), context),
        store.save_item("thr_1", user_message("thr_1", "msg_1"), context),
        store.load_item("thr_1", "msg_1", context),
        store.delete_thread_item("thr_1", "msg_1", context),
        store.save_attachment(file_attachment("atc_1"), context),
        store.load_attachment("atc_1", context),
        store.delete_attachment("atc_1", context),
    ]
    for call in calls:
        with pytest.raises(ScopeError, match="names no tenant"):
            await call
    with pytest.raises(ValueError):
        async with store.turn_lock("thr_1", context):
            pass
    assert ids(await store.load_threads(10, None, "asc", ALICE)) == ["thr_1"]


# -- odd but valid data ----------------------------------------------------------------------------

ODD_IDS = [
    "it's",
    'say "hi"',
    "x'); DROP TABLE threads; --",
    "%s %(name)s ? $1 {s}",
    "back\\slash\ttab\nnewline",
    "日本語のスレッド",
    "emoji 🧵✨",
    "x" * 10_000,
    "é" * 5_000,
]


async def test_ids_are_opaque_strings(store: ScopedStore) -> None:
    for thread_id in ODD_IDS:
        await store.save_thread(thread(thread_id, title=thread_id), ALICE)
        for item_id in ODD_IDS:
            await store.add_thread_item(thread_id, user_message(thread_id, item_id, item_id), ALICE)
        await store.save_attachment(file_attachment(thread_id, thread_id), ALICE)
    assert ids(await store.load_threads(100, None, "asc", ALICE)) == ODD_IDS
    for thread_id in ODD_IDS:
        assert (await store.load_thread(thread_id, ALICE)).title == thread_id
        assert (await store.load_attachment(thread_id, ALICE)).thread_id == thread_id
        assert ids(await store.load_thread_items(thread_id, None, 100, "asc", ALICE)) == ODD_IDS
        for position, item_id in enumerate(ODD_IDS):
            assert await store.load_item(thread_id, item_id, ALICE) == user_message(thread_id, item_id, item_id)
            page = await store.load_thread_items(thread_id, item_id, 1, "asc", ALICE)
            assert ids(page) == ODD_IDS[position + 1 : position + 2]
    await store.delete_thread(ODD_IDS[2], ALICE)
    with pytest.raises(NotFoundError):
        await store.load_attachment(ODD_IDS[2], ALICE)
    assert len((await store.load_threads(100, None, "asc", ALICE)).data) == len(ODD_IDS) - 1


async def test_unicode_and_a_one_mebibyte_item(store: ScopedStore) -> None:
    text = ("Grüße, 世界! 🌍 \u0000 \U0010ffff " * 40_000)[: 1024 * 1024]
    await store.save_thread(thread("thr_1", title="Ünïcödé 🧵"), ALICE)
    big = user_message("thr_1", "msg_big", text)
    await store.add_thread_item("thr_1", big, ALICE)
    assert await store.load_item("thr_1", "msg_big", ALICE) == big
    assert (await store.load_thread_items("thr_1", None, 1, "asc", ALICE)).data == [big]
    assert (await store.load_thread("thr_1", ALICE)).title == "Ünïcödé 🧵"


# -- turn lock -----------------------------------------------------------------------------------


async def test_turn_lock_serializes_turns_on_one_thread(store: ScopedStore) -> None:
    inside: list[int] = []
    overlaps: list[int] = []

    async def turn(number: int) -> None:
        async with store.turn_lock("thr_1", ALICE):
            inside.append(number)
            if len(inside) > 1:
                overlaps.append(number)
            await asyncio.sleep(0.01)
            inside.remove(number)

    await asyncio.wait_for(asyncio.gather(*(turn(number) for number in range(8))), 30)
    assert overlaps == []


async def test_turn_lock_is_per_thread_and_per_tenant(store: ScopedStore) -> None:
    entered = {key: asyncio.Event() for key in ("alice/thr_1", "alice/thr_2", "bob/thr_1")}

    async def turn(key: str) -> None:
        user, thread_id = key.split("/")
        async with store.turn_lock(thread_id, {"user_id": user}):
            entered[key].set()
            # Everyone must be inside at once; a shared lock would time out here.
            await asyncio.gather(*(event.wait() for event in entered.values()))

    await asyncio.wait_for(asyncio.gather(*(turn(key) for key in entered)), 30)


async def test_turn_lock_is_released_on_error(store: ScopedStore) -> None:
    with pytest.raises(RuntimeError):
        async with store.turn_lock("thr_1", ALICE):
            raise RuntimeError("turn failed")

    async def again() -> None:
        async with store.turn_lock("thr_1", ALICE):
            pass

    await asyncio.wait_for(again(), 10)


# -- ids -----------------------------------------------------------------------------------------


async def test_generated_ids_are_typed_time_ordered_and_carry_96_random_bits(store: ScopedStore) -> None:
    thread_ids = [store.generate_thread_id(ALICE) for _ in range(200)]
    message_ids = [store.generate_item_id("message", thread("thr_1"), ALICE) for _ in range(200)]
    assert len(set(thread_ids)) == len(thread_ids) and len(set(message_ids)) == len(message_ids)
    for prefix, generated in (("thr", thread_ids), ("msg", message_ids)):
        for value in generated:
            # 12 hex digits of milliseconds, then 24 random hex digits (96 bits).
            assert re.fullmatch(prefix + r"_[0-9a-f]{12}[0-9a-f]{24}", value), value
        assert [value[:16] for value in generated] == sorted(value[:16] for value in generated)
    tool_call = store.generate_item_id("tool_call", thread("thr_1"), ALICE)
    assert tool_call.startswith("tc_")


async def test_a_tiny_id_space_never_crosses_tenants(store: ScopedStore) -> None:
    """Ids drawn from four values collide for certain: each tenant keeps rows of its own."""
    space = [f"thr_{index}" for index in range(4)]
    users = [{"user_id": f"user{index}"} for index in range(3)]
    for user_index, user in enumerate(users):
        for thread_id in space:
            await store.save_thread(thread(thread_id, title=f"{user_index}:{thread_id}"), user)
            await store.add_thread_item(thread_id, user_message(thread_id, "msg_0", f"{user_index}"), user)
            await store.save_attachment(file_attachment(f"atc{thread_id}", thread_id), user)
    for user_index, user in enumerate(users):
        for thread_id in space:
            assert (await store.load_thread(thread_id, user)).title == f"{user_index}:{thread_id}"
            item = await store.load_item(thread_id, "msg_0", user)
            assert item == user_message(thread_id, "msg_0", f"{user_index}")
    # Deleting every id of the space as one tenant leaves the others whole.
    for thread_id in space:
        await store.delete_thread(thread_id, users[0])
        with pytest.raises(NotFoundError):
            await store.delete_thread(thread_id, users[0])
    for user_index, user in enumerate(users[1:], start=1):
        assert len((await store.load_threads(10, None, "asc", user)).data) == len(space)
        for thread_id in space:
            assert (await store.load_attachment(f"atc{thread_id}", user)).thread_id == thread_id
            assert (await store.load_item(thread_id, "msg_0", user)).content[0].text == f"{user_index}"  # pyright: ignore[reportAttributeAccessIssue]


@pytest.mark.parametrize("length", [1_000, 100_000])
async def test_a_scope_of_any_length_is_stored(store: ScopedStore, length: int) -> None:
    """A tenant id longer than an index entry (about 2.7 kB in PostgreSQL) still keys its rows."""
    # Varied characters, so that PostgreSQL cannot compress the value under its index limit.
    scope = "".join(chr(0x4E00 + (index * 7919) % 20000) for index in range(length))
    long_user = {"user_id": scope}
    near_twin = {"user_id": scope[:-1] + "x"}
    await thread_with_items(store, "thr_1", 2, long_user)
    await store.save_attachment(file_attachment("atc_1", "thr_1"), long_user)
    assert ids(await store.load_threads(10, None, "asc", long_user)) == ["thr_1"]
    assert ids(await store.load_thread_items("thr_1", None, 10, "asc", long_user)) == ["msg_000", "msg_001"]
    assert ids(await store.load_threads(10, None, "asc", near_twin)) == []
    async with store.turn_lock("thr_1", long_user):
        await store.add_thread_item("thr_1", user_message("thr_1", "msg_002"), long_user)
    await store.delete_thread("thr_1", long_user)
    with pytest.raises(NotFoundError):
        await store.load_attachment("atc_1", long_user)


class _RecordingFiles(AttachmentStore[Any]):
    """An integrator's attachment store that records what it is asked to delete, and fails on one id."""

    def __init__(self) -> None:
        self.deleted: list[tuple[str, str]] = []

    async def delete_attachment(self, attachment_id: str, context: Any) -> None:
        """Record the deletion; `atc_stuck` fails."""
        if attachment_id == "atc_stuck":
            raise OSError("the disk said no")
        self.deleted.append((attachment_id, context["user_id"]))


async def test_deleting_a_thread_deletes_its_files_through_the_linked_attachment_store(store: ScopedStore) -> None:
    files = _RecordingFiles()
    store.link_attachment_store(files)
    for user in (ALICE, BOB):
        await thread_with_items(store, "thr_1", 1, user)
        for attachment_id in ("atc_1", "atc_stuck", "atc_2"):
            await store.save_attachment(file_attachment(attachment_id, "thr_1"), user)
    await store.save_attachment(file_attachment("atc_loose"), ALICE)
    await store.delete_thread("thr_1", ALICE)
    # Every file of the thread is asked for, as its owner, even after one failed; nothing else is.
    assert sorted(files.deleted) == [("atc_1", "alice"), ("atc_2", "alice")]
    for attachment_id in ("atc_1", "atc_stuck", "atc_2"):
        with pytest.raises(NotFoundError):
            await store.load_attachment(attachment_id, ALICE)
        assert (await store.load_attachment(attachment_id, BOB)).thread_id == "thr_1"
    assert (await store.load_attachment("atc_loose", ALICE)).thread_id is None


async def test_an_open_store_answers_a_ping(store: ScopedStore) -> None:
    await store.ping()
