"""Cursor pages of threads and items."""

from typing import Generic, TypeVar

from pydantic import BaseModel

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a listing; pass `after` back to get the next page."""

    data: list[T] = []  # pydantic copies mutable defaults per instance
    has_more: bool = False
    after: str | None = None
