"""The typed request: one validator built once, and what the HTTP layer reads off a parsed request."""

from __future__ import annotations

from pydantic import TypeAdapter

from chatkit.types import (
    AttachmentsCreateReq,
    AttachmentsDeleteReq,
    ChatKitReq,
    InputTranscribeReq,
    ThreadsAddClientToolOutputReq,
    ThreadsAddStructuredInputReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsCustomActionReq,
    ThreadsListReq,
    ThreadsRetryAfterItemReq,
)

FollowUpReq = (
    ThreadsAddUserMessageReq
    | ThreadsAddClientToolOutputReq
    | ThreadsAddStructuredInputReq
    | ThreadsRetryAfterItemReq
    | ThreadsCustomActionReq
)
"""The streaming requests on an existing thread: every `StreamingReq` but `threads.create`."""

# Built once: constructing a validator per request is most of the reference's per-call cost.
_REQUEST_ADAPTER: TypeAdapter[ChatKitReq] = TypeAdapter(ChatKitReq)


def parse_request(body: str | bytes | bytearray) -> ChatKitReq:
    """The request a body holds, validated once; raises pydantic's `ValidationError`."""
    return _REQUEST_ADAPTER.validate_json(body)


def thread_id_of(request: ChatKitReq) -> str | None:
    """The existing thread a request names; None for those that name none (`threads.create` among them)."""
    match request:
        case ThreadsCreateReq() | ThreadsListReq() | AttachmentsCreateReq() | AttachmentsDeleteReq():
            return None
        case InputTranscribeReq():
            return None
        case _:
            return request.params.thread_id
