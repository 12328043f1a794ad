"""Threads and items as a response carries them: a thread with its item page, visible items, answered inputs."""

from __future__ import annotations

from typing import cast

from chatkit.types import (
    Page,
    StructuredInputAnswer,
    StructuredInputItem,
    StructuredInputMultipleChoice,
    StructuredInputSubmission,
    Thread,
    ThreadItem,
    ThreadMetadata,
)

DEFAULT_PAGE_SIZE = 20
"""Items per page when a listing does not say, and for the items a thread is loaded with."""

HIDDEN_ITEM_TYPES = frozenset({"hidden_context_item", "sdk_hidden_context"})
"""Items for the model only: stored, never shown to the client."""


def empty_page() -> Page[ThreadItem]:
    """A page with no items, as a new thread carries."""
    # model_construct skips validation and the deep copy pydantic makes of a `[]` default.
    return cast("Page[ThreadItem]", Page.model_construct(data=[], has_more=False, after=None))


def with_items(thread: ThreadMetadata, items: Page[ThreadItem] | None = None) -> Thread:
    """The thread as the client receives it: metadata plus a page of items (empty by default)."""
    fields = {name: value for name, value in thread.__dict__.items() if name != "items"}
    return Thread.model_construct(**fields, items=items if items is not None else empty_page())


def page_size(limit: int | None) -> int:
    """The page size a listing asks the store for: missing or zero means the default."""
    # A negative limit goes to the store as it came, as in the reference; ours read it as the default.
    return limit or DEFAULT_PAGE_SIZE


def visible(page: Page[ThreadItem]) -> Page[ThreadItem]:
    """The page without hidden items; `has_more` and `after` stay as the store gave them."""
    data = [item for item in page.data if item.type not in HIDDEN_ITEM_TYPES]
    return cast("Page[ThreadItem]", Page.model_construct(data=data, has_more=page.has_more, after=page.after))


def answer_structured_input(item: StructuredInputItem, submission: StructuredInputSubmission) -> StructuredInputItem:
    """The item with the user's answers applied and its status set from the submission."""
    answered = item.model_copy(deep=True)
    skip_all = submission.status == "skipped"
    for question in answered.inputs:
        given = submission.answers.get(question.id)
        values = list(given.values) if given is not None else []
        if skip_all or given is None or given.skipped or not values:
            question.answer = StructuredInputAnswer(values=[], skipped=True)
            continue
        if isinstance(question, StructuredInputMultipleChoice) and not question.multiple:
            values = values[:1]
        question.answer = StructuredInputAnswer(values=values)
    answered.status = submission.status
    return answered
