"""`ChatKitServer`: turns protocol requests into store calls, hook calls and events."""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import datetime
from typing import Any, Generic, Literal, NamedTuple, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel
from typing_extensions import assert_never

from chatkit.actions import Action
from chatkit.errors import CustomStreamError, ErrorCode, StreamError
from chatkit.logger import logger
from chatkit.server.items import (
    DEFAULT_PAGE_SIZE,
    HIDDEN_ITEM_TYPES,
    answer_structured_input,
    empty_page,
    page_size,
    visible,
    with_items,
)
from chatkit.server.pending import PendingItems
from chatkit.server.requests import FollowUpReq, parse_request
from chatkit.server.results import (
    NonStreamingResult,
    StreamingResult,
    encode_event,
    encode_json,
    encode_thread_listing,
)
from chatkit.server.resumed import ResumedItemDoneEvent
from chatkit.server.user_agent import agents_sdk_user_agent_override
from chatkit.store import AttachmentStore, Store
from chatkit.types import (
    AssistantMessageItem,
    Attachment,
    AttachmentCreateParams,
    AttachmentsCreateReq,
    AttachmentsDeleteReq,
    AudioInput,
    ChatKitReq,
    ClientToolCallItem,
    ErrorEvent,
    InputTranscribeReq,
    ItemsFeedbackReq,
    ItemsListReq,
    NonStreamingReq,
    SDKHiddenContextItem,
    StreamingReq,
    StreamOptions,
    StreamOptionsEvent,
    StructuredInputItem,
    SyncCustomActionResponse,
    Thread,
    ThreadCreatedEvent,
    ThreadItem,
    ThreadItemAddedEvent,
    ThreadItemDoneEvent,
    ThreadItemRemovedEvent,
    ThreadItemReplacedEvent,
    ThreadItemUpdatedEvent,
    ThreadMetadata,
    ThreadsAddClientToolOutputReq,
    ThreadsAddStructuredInputReq,
    ThreadsAddUserMessageReq,
    ThreadsCreateReq,
    ThreadsCustomActionReq,
    ThreadsDeleteReq,
    ThreadsGetByIdReq,
    ThreadsListReq,
    ThreadsRetryAfterItemReq,
    ThreadsSyncCustomActionReq,
    ThreadStreamEvent,
    ThreadsUpdateReq,
    ThreadUpdatedEvent,
    TranscriptionResult,
    UserMessageInput,
    UserMessageItem,
    WidgetItem,
    is_streaming_req,
)

TContext = TypeVar("TContext")

CANCELLED_NOTE = "The user cancelled the stream. Stop responding to the prior request."


@runtime_checkable
class AttachmentLinking(Protocol):
    """A store that works with the server's attachment store: it deletes a thread's files with the thread."""

    def link_attachment_store(self, attachment_store: AttachmentStore[Any]) -> None:
        """Act on the attachment files of the rows this store deletes and loads."""
        ...


@runtime_checkable
class AttachmentsAtURL(Protocol):
    """An attachment store whose upload URLs can hang below the URL a request reached the server at."""

    async def create_attachment_at(
        self, input: AttachmentCreateParams, context: Any, base_url: str | None
    ) -> Attachment:
        """`create_attachment`, with upload and preview URLs below `base_url` unless one is configured."""
        ...


class ChatKitServer(ABC, Generic[TContext]):
    """Base class of a ChatKit backend: implement `respond`, then hand requests to `process`."""

    def __init__(self, store: Store[TContext], attachment_store: AttachmentStore[TContext] | None = None) -> None:
        self.store = store
        self.attachment_store = attachment_store
        if attachment_store is not None and isinstance(store, AttachmentLinking):
            # However requests arrive (`process`, an endpoint, `create_app`), deleting a thread then
            # deletes its files, and files are split by tenant as the store's rows are.
            store.link_attachment_store(attachment_store)

    # -- hooks for integrators ---------------------------------------------------------------------

    @abstractmethod
    def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: TContext
    ) -> AsyncIterator[ThreadStreamEvent]:
        """Answer a user message (or continue after a client tool call / structured input)."""

    async def add_feedback(
        self, thread_id: str, item_ids: list[str], feedback: Literal["positive", "negative"], context: TContext
    ) -> None:
        """Record thumbs up or down on items; does nothing unless overridden."""

    async def transcribe(self, audio_input: AudioInput, context: TContext) -> TranscriptionResult:
        """Turn dictated audio into text; override to support voice input."""
        raise NotImplementedError("override ChatKitServer.transcribe to support input.transcribe")

    def action(
        self, thread: ThreadMetadata, action: Action[str, Any], sender: WidgetItem | None, context: TContext
    ) -> AsyncIterator[ThreadStreamEvent]:
        """Handle a widget action whose answer streams; override to support widget actions."""
        raise NotImplementedError("override ChatKitServer.action to handle threads.custom_action")

    async def sync_action(
        self, thread: ThreadMetadata, action: Action[str, Any], sender: WidgetItem | None, context: TContext
    ) -> SyncCustomActionResponse:
        """Handle a widget action answered at once; override to support synchronous actions."""
        raise NotImplementedError("override ChatKitServer.sync_action to handle threads.sync_custom_action")

    def get_stream_options(self, thread: ThreadMetadata, context: TContext) -> StreamOptions:
        """Options sent first in every response stream (by default the user may cancel)."""
        return StreamOptions(allow_cancel=True)

    async def handle_stream_cancelled(
        self, thread: ThreadMetadata, pending_items: list[ThreadItem], context: TContext
    ) -> None:
        """Save what a stopped response had shown: non-blank assistant text and a note for the model."""
        for item in pending_items:
            if isinstance(item, AssistantMessageItem) and any(part.text.strip() for part in item.content):
                await self.store.add_thread_item(thread.id, item, context)
        note = SDKHiddenContextItem(
            id=self.store.generate_item_id("sdk_hidden_context", thread, context),
            thread_id=thread.id,
            created_at=datetime.now(),
            content=CANCELLED_NOTE,
        )
        await self.store.add_thread_item(thread.id, note, context)

    # -- entry point -------------------------------------------------------------------------------

    async def process(
        self, request: str | bytes | bytearray, context: TContext
    ) -> StreamingResult[bytes] | NonStreamingResult:
        """Handle one request body: a stream of SSE frames, or one JSON answer.

        Malformed or invalid requests raise pydantic's `ValidationError` before anything is written.
        """
        return await Dispatcher(self).run(parse_request(request), context)


def _log_request(request: ChatKitReq) -> None:
    # The reference's line, kept so log-based monitoring written for it keeps matching.
    logger.info("Received request op: %s", request.type)


class OpenedStream(NamedTuple):
    """A streaming request as the HTTP layer starts it: the thread its turn runs on, and its frames."""

    thread_id: str
    frames: AsyncGenerator[bytes, None]
    new: bool
    """Whether the request created the thread: its first turn, which nobody can hold yet."""


class Dispatcher(Generic[TContext]):
    """Carries out parsed requests for one server: what `process` does once the body is validated.

    The HTTP layer takes the same steps apart: it checks ownership before anything runs, and
    opens a stream eagerly, so a new thread's id is known before its first turn is streamed.
    """

    def __init__(self, server: ChatKitServer[TContext], refusal: type[ValueError] = ValueError) -> None:
        """`refusal` is raised for a request the server will not carry out (a wrong item, a wrong state).

        `process()` raises a plain `ValueError`, as the reference does; the HTTP layer asks for
        `chatkit.errors.InvalidRequestError`, so it can tell these from any other `ValueError`.
        """
        self.server = server
        self.store = server.store
        self._refusal = refusal

    async def run(self, request: ChatKitReq, context: TContext) -> StreamingResult[bytes] | NonStreamingResult:
        """Answer `request` as `process()` does: a stream starts its work when first iterated."""
        if is_streaming_req(request):
            _log_request(request)
            return StreamingResult(self._stream(request, context, None))
        return await self.answer(request, context)

    async def answer(
        self, request: NonStreamingReq, context: TContext, *, base_url: str | None = None
    ) -> NonStreamingResult:
        """The JSON answer of a plain request; `base_url` is the URL the request reached the server at."""
        _log_request(request)
        with agents_sdk_user_agent_override():
            return NonStreamingResult(await self._answer(request, context, base_url))

    async def open_stream(self, request: StreamingReq, context: TContext) -> OpenedStream:
        """A streaming request's frames and the thread its turn runs on; a `threads.create` makes that thread now."""
        _log_request(request)
        if isinstance(request, ThreadsCreateReq):
            created = await self._create_thread(context)
            return OpenedStream(created.id, self._stream(request, context, created), new=True)
        return OpenedStream(request.params.thread_id, self._stream(request, context, None), new=False)

    async def _create_thread(self, context: TContext) -> Thread:
        """A new, empty thread, saved: the first step of a `threads.create`."""
        thread = Thread(id=self.store.generate_thread_id(context), created_at=datetime.now(), items=empty_page())
        await self.store.save_thread(thread, context)
        return thread

    async def check_access(self, request: ChatKitReq, context: TContext) -> None:
        """Refuse (`NotFoundError`) a request naming an id the caller does not own, before anything runs.

        `process()` calls only the store methods the reference calls: deleting or rating goes
        straight to `delete_thread`, `add_feedback` or `delete_attachment`, and a store that does
        not check the scope on those would act on another user's rows. A `threads.create`'s
        attachments are loaded here too: `process()` keeps the reference's order (the thread is
        created and announced, then the attachments loaded), which over HTTP would be a 200 stream
        cut short and an empty thread.
        """
        store = self.store
        match request:
            case ThreadsCreateReq():
                for attachment_id in request.params.input.attachments:
                    await store.load_attachment(attachment_id, context)
                return
            case ThreadsDeleteReq() | ItemsFeedbackReq():
                check = store.load_thread(request.params.thread_id, context)
            case AttachmentsDeleteReq():
                check = store.load_attachment(request.params.attachment_id, context)
            case _:
                return
        try:
            await check
        except NotImplementedError:
            # A store that can delete but not load works as it does with the reference: the
            # ownership check is then its own.
            return

    # -- plain requests ----------------------------------------------------------------------------

    async def _answer(self, request: NonStreamingReq, context: TContext, base_url: str | None) -> bytes:
        result: BaseModel | None
        store = self.store
        match request:
            case ThreadsGetByIdReq():
                result = await self._load_full_thread(request.params.thread_id, context)
            case ThreadsListReq():
                params = request.params
                page = await store.load_threads(page_size(params.limit), params.after, params.order, context)
                return encode_thread_listing(page)
            case ItemsListReq():
                params = request.params
                page = await store.load_thread_items(
                    params.thread_id, params.after, page_size(params.limit), params.order, context
                )
                result = visible(page)
            case ThreadsUpdateReq():
                thread = await store.load_thread(request.params.thread_id, context)
                thread.title = request.params.title
                await store.save_thread(thread, context)
                result = with_items(thread)
            case ThreadsDeleteReq():
                # Ownership is the store's to enforce: ours raise NotFoundError for another user's thread.
                await store.delete_thread(request.params.thread_id, context)
                result = None
            case ItemsFeedbackReq():
                params = request.params
                await self.server.add_feedback(params.thread_id, params.item_ids, params.kind, context)
                result = None
            case AttachmentsCreateReq():
                files = self._require_attachment_store()
                if base_url is not None and isinstance(files, AttachmentsAtURL):
                    attachment = await files.create_attachment_at(request.params, context, base_url)
                else:
                    attachment = await files.create_attachment(request.params, context)
                await store.save_attachment(attachment, context)
                result = attachment
            case AttachmentsDeleteReq():
                attachment_id = request.params.attachment_id
                await self._require_attachment_store().delete_attachment(attachment_id, context)
                await store.delete_attachment(attachment_id, context)
                result = None
            case InputTranscribeReq():
                result = await self.server.transcribe(self._decode_audio(request), context)
            case ThreadsSyncCustomActionReq():
                params = request.params
                thread = await store.load_thread(params.thread_id, context)
                sender = await self._load_sender(thread, params.item_id, context)
                if params.item_id is not None and sender is None:
                    raise self._refusal(f"item {params.item_id} is not a widget and cannot send actions")
                result = await self.server.sync_action(thread, params.action, sender, context)
            case _:
                assert_never(request)
        return b"{}" if result is None else encode_json(result)

    def _require_attachment_store(self) -> AttachmentStore[TContext]:
        attachment_store = self.server.attachment_store
        if attachment_store is None:
            if self._refusal is ValueError:
                # process() raises what the reference raises: the integrator's mistake, not the client's.
                raise RuntimeError("attachments need an AttachmentStore: pass attachment_store= to ChatKitServer")
            raise self._refusal("this server does not accept attachments (it has no attachment store)")
        return attachment_store

    def _decode_audio(self, request: InputTranscribeReq) -> AudioInput:
        """The request's audio; malformed base64 raises `binascii.Error` (a `ValueError`) or the refusal."""
        try:
            data = base64.b64decode(request.params.audio_base64)
        except binascii.Error:
            if self._refusal is ValueError:
                raise  # the reference's exception, which process() keeps
            raise self._refusal("audio_base64 is not valid base64") from None
        return AudioInput(data=data, mime_type=request.params.mime_type)

    async def _load_full_thread(self, thread_id: str, context: TContext) -> Thread:
        thread = await self.store.load_thread(thread_id, context)
        items = await self.store.load_thread_items(thread_id, None, DEFAULT_PAGE_SIZE, "asc", context)
        return with_items(thread, visible(items))

    async def _load_sender(self, thread: ThreadMetadata, item_id: str | None, context: TContext) -> WidgetItem | None:
        """The widget an action came from: None without an item id, or when the item is no widget."""
        if item_id is None:
            return None
        item = await self.store.load_item(thread.id, item_id, context)
        return item if isinstance(item, WidgetItem) else None

    # -- streaming requests ------------------------------------------------------------------------

    async def _stream(
        self, request: StreamingReq, context: TContext, created: Thread | None
    ) -> AsyncGenerator[bytes, None]:
        """The SSE frames of a streaming request.

        Everything that can fail because of the request (unknown ids, wrong item states) happens
        before the first frame, so an HTTP layer can still answer with a 4xx instead; the one
        exception, kept from the reference, is an unknown attachment of `threads.create`, which
        fails right after `thread.created` (`chatkit.asgi` checks attachments before calling us).
        """
        with agents_sdk_user_agent_override():
            if isinstance(request, ThreadsCreateReq):
                # The new thread is announced before its first message is built, as the reference does.
                thread = created if created is not None else await self._create_thread(context)
                yield encode_event(ThreadCreatedEvent(thread=with_items(thread)))
                plan = await self._prepare_message(thread, request.params.input, context)
            else:
                plan = await self._prepare(request, context)
            for event in plan.prelude:
                yield encode_event(event)
            if plan.responder is None:
                return
            # The response pipeline runs inline: one generator layer less per event of a long reply.
            thread = plan.thread
            store = self.store
            yield encode_event(StreamOptionsEvent(stream_options=self.server.get_stream_options(thread, context)))
            pending = PendingItems()
            seen = _ThreadSnapshot(thread)
            events: AsyncIterator[ThreadStreamEvent] | None = None
            try:
                events = plan.responder()
                async for event in events:
                    # Most events of a reply are text deltas: test for them first.
                    if isinstance(event, ThreadItemUpdatedEvent):
                        pending.apply(event.item_id, event.update)
                    elif isinstance(event, ThreadItemDoneEvent):
                        item = event.item
                        pending.discard(item.id)
                        # A workflow resumed from the store (after a client tool call) is updated in
                        # place, never stored twice; the bridge marks its event, so no lookup is needed.
                        if isinstance(event, ResumedItemDoneEvent):
                            await store.save_item(thread.id, item, context)
                        else:
                            await store.add_thread_item(thread.id, item, context)
                        if item.type in HIDDEN_ITEM_TYPES:
                            continue
                    elif isinstance(event, ThreadItemAddedEvent):
                        if event.item.type in HIDDEN_ITEM_TYPES:
                            # Hidden context is for the model only; the reference leaks its `added` event.
                            continue
                        pending.add(event.item)
                    elif isinstance(event, ThreadItemRemovedEvent):
                        await store.delete_thread_item(thread.id, event.item_id, context)
                        pending.discard(event.item_id)
                    elif isinstance(event, ThreadItemReplacedEvent):
                        await store.save_item(thread.id, event.item, context)
                    yield encode_event(event)
                    if seen.changed():
                        await store.save_thread(thread, context)
                        yield encode_event(ThreadUpdatedEvent(thread=with_items(thread)))
            except (asyncio.CancelledError, GeneratorExit):
                # A stop, a reload and a dropped connection all end here: a cancelled task, or a
                # consumer that closed the stream. Either way the user saw a partial answer; keep it.
                await self.server.handle_stream_cancelled(thread, pending.items(), context)
                raise
            except CustomStreamError as error:
                yield encode_event(ErrorEvent(code="custom", message=error.message, allow_retry=error.allow_retry))
            except StreamError as error:
                yield encode_event(ErrorEvent(code=error.code, allow_retry=error.allow_retry))
            except Exception:
                logger.exception("response to thread %s failed", thread.id)
                yield encode_event(ErrorEvent(code=ErrorCode.STREAM_ERROR, allow_retry=True))
            finally:
                # A responder left mid-stream (the consumer closed ours) gets to clean up now.
                close = getattr(events, "aclose", None)
                if close is not None:
                    await close()
            if seen.changed():
                await store.save_thread(thread, context)
                yield encode_event(ThreadUpdatedEvent(thread=with_items(thread)))

    async def _prepare(self, request: FollowUpReq, context: TContext) -> _Plan:
        store = self.store
        match request:
            case ThreadsAddUserMessageReq():
                thread = await store.load_thread(request.params.thread_id, context)
                return await self._prepare_message(thread, request.params.input, context)
            case ThreadsAddClientToolOutputReq():
                thread = await store.load_thread(request.params.thread_id, context)
                await self._complete_client_tool_call(thread, request.params.result, context)
                return _Plan(thread, [], lambda: self.server.respond(thread, None, context))
            case ThreadsAddStructuredInputReq():
                params = request.params
                thread = await store.load_thread(params.thread_id, context)
                item = await store.load_item(thread.id, params.item_id, context)
                if not isinstance(item, StructuredInputItem) or item.status != "pending":
                    raise self._refusal(f"item {params.item_id} is not a pending structured input")
                answered = answer_structured_input(item, params.input)

                async def replace_then_respond() -> AsyncIterator[ThreadStreamEvent]:
                    # Through the pipeline, so the answered item is saved like any replacement.
                    yield ThreadItemReplacedEvent(item=answered)
                    async for event in self.server.respond(thread, None, context):
                        yield event

                return _Plan(thread, [], replace_then_respond)
            case ThreadsRetryAfterItemReq():
                thread = await store.load_thread(request.params.thread_id, context)
                message = await self._rewind_to(thread, request.params.item_id, context)
                if message is None:
                    return _Plan(thread, [], None)
                return _Plan(thread, [], lambda: self.server.respond(thread, message, context))
            case ThreadsCustomActionReq():
                params = request.params
                thread = await store.load_thread(params.thread_id, context)
                sender = await self._load_sender(thread, params.item_id, context)
                if params.item_id is not None and sender is None:
                    return _Plan(thread, [ErrorEvent(code=ErrorCode.STREAM_ERROR, allow_retry=False)], None)
                return _Plan(thread, [], lambda: self.server.action(thread, params.action, sender, context))
            case _:
                assert_never(request)

    async def _prepare_message(self, thread: ThreadMetadata, input: UserMessageInput, context: TContext) -> _Plan:
        """Store the user's message and plan the response to it."""
        # Every attachment is loaded before any is changed, so an unknown id writes nothing.
        attachments = [await self.store.load_attachment(attachment_id, context) for attachment_id in input.attachments]
        message = await self._add_user_message(input, attachments, thread, context)
        return _Plan(thread, [ThreadItemDoneEvent(item=message)], lambda: self.server.respond(thread, message, context))

    async def _add_user_message(
        self, input: UserMessageInput, attachments: list[Attachment], thread: ThreadMetadata, context: TContext
    ) -> UserMessageItem:
        """Store the user's message, stamping its attachments with the thread they now belong to."""
        for attachment in attachments:
            attachment.thread_id = thread.id
            await self.store.save_attachment(attachment, context)
        message = UserMessageItem(
            id=self.store.generate_item_id("message", thread, context),
            thread_id=thread.id,
            created_at=datetime.now(),
            content=input.content,
            attachments=attachments,
            quoted_text=input.quoted_text,
            inference_options=input.inference_options,
        )
        await self.store.add_thread_item(thread.id, message, context)
        return message

    async def _complete_client_tool_call(self, thread: ThreadMetadata, result: Any, context: TContext) -> None:
        newest = await self.store.load_thread_items(thread.id, None, 1, "desc", context)
        call = newest.data[0] if newest.data else None
        if not isinstance(call, ClientToolCallItem) or call.status != "pending":
            raise self._refusal(f"thread {thread.id} has no pending client tool call to complete")
        call.output = result
        call.status = "completed"
        await self.store.save_item(thread.id, call, context)
        # Calls the client never answered would be offered to the model again: drop them.
        recent = await self.store.load_thread_items(thread.id, None, DEFAULT_PAGE_SIZE, "desc", context)
        for item in recent.data:
            if isinstance(item, ClientToolCallItem) and item.status == "pending" and item.id != call.id:
                await self.store.delete_thread_item(thread.id, item.id, context)

    async def _rewind_to(self, thread: ThreadMetadata, item_id: str, context: TContext) -> UserMessageItem | None:
        """Delete every item newer than the user message `item_id` and return that message.

        Returns None, deleting nothing, when the thread has no such item.
        """
        newer: list[str] = []
        after: str | None = None
        while True:
            page = await self.store.load_thread_items(thread.id, after, DEFAULT_PAGE_SIZE, "desc", context)
            for item in page.data:
                if item.id == item_id:
                    if not isinstance(item, UserMessageItem):
                        raise self._refusal(f"item {item_id} is not a user message and cannot be retried")
                    for newer_id in newer:
                        await self.store.delete_thread_item(thread.id, newer_id, context)
                    return item
                newer.append(item.id)
            if not page.has_more or page.after is None:
                return None
            after = page.after


class _Plan(NamedTuple):
    """What a streaming request resolved to before its first frame."""

    thread: ThreadMetadata
    prelude: list[ThreadStreamEvent]
    """Events sent before the response pipeline (the new thread, the user's message...)."""
    responder: Callable[[], AsyncIterator[ThreadStreamEvent]] | None
    """What the pipeline runs; None when the request needs no response."""


class _ThreadSnapshot:
    """Notices when a responder changes a thread's metadata, including in-place edits.

    Compared after every event, so the check is a few field comparisons, not a deep copy.
    """

    def __init__(self, thread: ThreadMetadata) -> None:
        self._thread = thread
        self._take()

    def _take(self) -> None:
        thread = self._thread
        self._title = thread.title
        self._status = thread.status
        self._status_fields = dict(vars(thread.status))
        self._domains = None if thread.allowed_image_domains is None else list(thread.allowed_image_domains)
        self._metadata = copy.deepcopy(thread.metadata)

    def changed(self) -> bool:
        """True once per change: the snapshot then moves to the new state."""
        thread = self._thread
        if (
            thread.title == self._title
            and thread.status is self._status
            and vars(thread.status) == self._status_fields
            and thread.allowed_image_domains == self._domains
            and thread.metadata == self._metadata
        ):
            return False
        self._take()
        return True
