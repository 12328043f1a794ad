"""Threads: a conversation's metadata, status and first page of items."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, SerializationInfo, field_serializer

from chatkit.types.items import ThreadItem
from chatkit.types.page import Page
from chatkit.types.wire import is_wire


class ActiveStatus(BaseModel):
    """The thread takes new messages."""

    type: Literal["active"] = "active"


class LockedStatus(BaseModel):
    """The thread is read-only for now; `reason` is shown to the user."""

    type: Literal["locked"] = "locked"
    reason: str | None = None


class ClosedStatus(BaseModel):
    """The thread is closed for good; `reason` is shown to the user."""

    type: Literal["closed"] = "closed"
    reason: str | None = None


ThreadStatus = Annotated[ActiveStatus | LockedStatus | ClosedStatus, Field(discriminator="type")]
"""Any thread status, told apart by `type`."""


class ThreadMetadata(BaseModel):
    """A thread without its items: what stores keep and responders receive."""

    title: str | None = None
    id: str
    created_at: datetime
    status: ThreadStatus = Field(default_factory=ActiveStatus)
    allowed_image_domains: list[str] | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    """Integration-only data; always sent to the client empty."""

    @field_serializer("metadata")
    def _hide_metadata(self, value: dict[str, Any], info: SerializationInfo) -> dict[str, Any]:
        return {} if is_wire(info) else value


class Thread(ThreadMetadata):
    """A thread with a page of its items, as the client receives it."""

    items: Page[ThreadItem]
