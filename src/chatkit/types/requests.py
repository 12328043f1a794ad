"""Requests the client sends, their parameters, and the plain (non-streamed) answers."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field
from typing_extensions import TypeIs

from chatkit.actions import Action
from chatkit.types.items import InferenceOptions, ThreadItem, UserMessageContent


class BaseReq(BaseModel):
    """Fields every request may carry."""

    metadata: dict[str, Any] = Field(default_factory=dict)
    """Free-form data the client attached to the request."""


class UserMessageInput(BaseModel):
    """What the user submitted from the composer."""

    content: list[UserMessageContent]
    attachments: list[str]
    """Ids of attachments uploaded beforehand."""
    quoted_text: str | None = None
    inference_options: InferenceOptions


# -- streaming requests ------------------------------------------------------------------------


class ThreadCreateParams(BaseModel):
    """Parameters of `threads.create`."""

    input: UserMessageInput


class ThreadsCreateReq(BaseReq):
    """Start a thread with a first user message."""

    type: Literal["threads.create"] = "threads.create"
    params: ThreadCreateParams


class ThreadAddUserMessageParams(BaseModel):
    """Parameters of `threads.add_user_message`."""

    input: UserMessageInput
    thread_id: str


class ThreadsAddUserMessageReq(BaseReq):
    """Add a user message to a thread."""

    type: Literal["threads.add_user_message"] = "threads.add_user_message"
    params: ThreadAddUserMessageParams


class ThreadAddClientToolOutputParams(BaseModel):
    """Parameters of `threads.add_client_tool_output`."""

    thread_id: str
    result: Any


class ThreadsAddClientToolOutputReq(BaseReq):
    """Deliver the output of the pending client tool call."""

    type: Literal["threads.add_client_tool_output"] = "threads.add_client_tool_output"
    params: ThreadAddClientToolOutputParams


class StructuredInputAnswerSubmission(BaseModel):
    """The user's answer to one question."""

    values: list[str] = Field(default_factory=list)
    skipped: bool = False


class StructuredInputSubmission(BaseModel):
    """The user's answers to a structured-input item, keyed by question id."""

    status: Literal["answered", "skipped"] = "answered"
    answers: dict[str, StructuredInputAnswerSubmission] = Field(default_factory=dict)


class ThreadAddStructuredInputParams(BaseModel):
    """Parameters of `threads.add_structured_input`."""

    thread_id: str
    item_id: str
    input: StructuredInputSubmission


class ThreadsAddStructuredInputReq(BaseReq):
    """Answer a pending structured-input item."""

    type: Literal["threads.add_structured_input"] = "threads.add_structured_input"
    params: ThreadAddStructuredInputParams


class ThreadRetryAfterItemParams(BaseModel):
    """Parameters of `threads.retry_after_item`."""

    thread_id: str
    item_id: str


class ThreadsRetryAfterItemReq(BaseReq):
    """Drop everything after a user message and answer it again."""

    type: Literal["threads.retry_after_item"] = "threads.retry_after_item"
    params: ThreadRetryAfterItemParams


class ThreadCustomActionParams(BaseModel):
    """Parameters of `threads.custom_action` and `threads.sync_custom_action`."""

    thread_id: str
    item_id: str | None = None
    action: Action[str, Any]


class ThreadsCustomActionReq(BaseReq):
    """Run a widget action whose answer streams."""

    type: Literal["threads.custom_action"] = "threads.custom_action"
    params: ThreadCustomActionParams


# -- plain requests ----------------------------------------------------------------------------


class ThreadsSyncCustomActionReq(BaseReq):
    """Run a widget action and answer at once."""

    type: Literal["threads.sync_custom_action"] = "threads.sync_custom_action"
    params: ThreadCustomActionParams


class ThreadGetByIdParams(BaseModel):
    """Parameters of `threads.get_by_id`."""

    thread_id: str


class ThreadsGetByIdReq(BaseReq):
    """Load a thread with its first page of items."""

    type: Literal["threads.get_by_id"] = "threads.get_by_id"
    params: ThreadGetByIdParams


class ThreadListParams(BaseModel):
    """Parameters of `threads.list`."""

    limit: int | None = None
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None


class ThreadsListReq(BaseReq):
    """List the caller's threads."""

    type: Literal["threads.list"] = "threads.list"
    params: ThreadListParams


class ItemsListParams(BaseModel):
    """Parameters of `items.list`."""

    thread_id: str
    limit: int | None = None
    order: Literal["asc", "desc"] = "desc"
    after: str | None = None


class ItemsListReq(BaseReq):
    """List a thread's items."""

    type: Literal["items.list"] = "items.list"
    params: ItemsListParams


FeedbackKind = Literal["positive", "negative"]
"""A thumbs up or a thumbs down."""


class ItemFeedbackParams(BaseModel):
    """Parameters of `items.feedback`."""

    thread_id: str
    item_ids: list[str]
    kind: FeedbackKind


class ItemsFeedbackReq(BaseReq):
    """Record a thumbs up or down on items."""

    type: Literal["items.feedback"] = "items.feedback"
    params: ItemFeedbackParams


class AttachmentCreateParams(BaseModel):
    """Parameters of `attachments.create`."""

    name: str
    size: int
    mime_type: str


class AttachmentsCreateReq(BaseReq):
    """Register an attachment before its upload."""

    type: Literal["attachments.create"] = "attachments.create"
    params: AttachmentCreateParams


class AttachmentDeleteParams(BaseModel):
    """Parameters of `attachments.delete`."""

    attachment_id: str


class AttachmentsDeleteReq(BaseReq):
    """Delete an attachment."""

    type: Literal["attachments.delete"] = "attachments.delete"
    params: AttachmentDeleteParams


class InputTranscribeParams(BaseModel):
    """Parameters of `input.transcribe`."""

    audio_base64: str
    mime_type: str


class InputTranscribeReq(BaseReq):
    """Turn recorded speech into composer text."""

    type: Literal["input.transcribe"] = "input.transcribe"
    params: InputTranscribeParams


class ThreadUpdateParams(BaseModel):
    """Parameters of `threads.update`."""

    thread_id: str
    title: str


class ThreadsUpdateReq(BaseReq):
    """Rename a thread."""

    type: Literal["threads.update"] = "threads.update"
    params: ThreadUpdateParams


class ThreadDeleteParams(BaseModel):
    """Parameters of `threads.delete`."""

    thread_id: str


class ThreadsDeleteReq(BaseReq):
    """Delete a thread and its items."""

    type: Literal["threads.delete"] = "threads.delete"
    params: ThreadDeleteParams


# -- answers and inputs of plain requests ------------------------------------------------------


class AudioInput(BaseModel):
    """Decoded audio handed to `ChatKitServer.transcribe`."""

    data: bytes
    mime_type: str

    @property
    def media_type(self) -> str:
        """The mime type without parameters (`audio/webm;codecs=opus` -> `audio/webm`)."""
        return self.mime_type.split(";", 1)[0].strip()


class TranscriptionResult(BaseModel):
    """The text recognized in an audio input."""

    text: str


class SyncCustomActionResponse(BaseModel):
    """Answer of `threads.sync_custom_action`: optionally an item to show in place of the sender."""

    updated_item: ThreadItem | None = None


# -- unions ------------------------------------------------------------------------------------

StreamingReq = (
    ThreadsCreateReq
    | ThreadsAddUserMessageReq
    | ThreadsAddClientToolOutputReq
    | ThreadsAddStructuredInputReq
    | ThreadsRetryAfterItemReq
    | ThreadsCustomActionReq
)
"""Requests answered by an event stream."""

NonStreamingReq = (
    ThreadsGetByIdReq
    | ThreadsListReq
    | ItemsListReq
    | ItemsFeedbackReq
    | AttachmentsCreateReq
    | AttachmentsDeleteReq
    | ThreadsUpdateReq
    | ThreadsDeleteReq
    | InputTranscribeReq
    | ThreadsSyncCustomActionReq
)
"""Requests answered by one JSON document."""

ChatKitReq = Annotated[StreamingReq | NonStreamingReq, Field(discriminator="type")]
"""Any request, told apart by `type`."""

_STREAMING_TYPES = (
    ThreadsCreateReq,
    ThreadsAddUserMessageReq,
    ThreadsAddClientToolOutputReq,
    ThreadsAddStructuredInputReq,
    ThreadsRetryAfterItemReq,
    ThreadsCustomActionReq,
)


def is_streaming_req(request: ChatKitReq) -> TypeIs[StreamingReq]:
    """Whether the request is answered by an event stream."""
    return isinstance(request, _STREAMING_TYPES)
