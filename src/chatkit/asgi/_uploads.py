"""Upload and download endpoints of an attachment store, through its streaming face (`AttachmentFiles`).

- `PUT|POST {path}/uploads/{id}?token=…`: second phase of a two-phase upload (raw or multipart body),
  once per attachment;
- `POST {path}/upload`: direct upload of a multipart `file` field, answering the attachment;
- `GET {path}/files/{id}`: the file, with a signed preview token or for the caller who owns it.

Every file belongs to a tenant: a token names the tenant it was signed for, and a request
without one reaches only the caller's own files. Uploads go to the store as their bodies arrive
and files are sent as they are read, so a store that streams never holds a whole file.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from chatkit.asgi._http import ContextBuilder, HTTPProblem, build_context, problem_body, problem_from
from chatkit.asgi._observe import access_record
from chatkit.asgi._upload_bodies import file_response, upload_body
from chatkit.attachments import is_valid_attachment_id
from chatkit.attachments._streams import AttachmentFiles, CountedChunks
from chatkit.store import NotFoundError, Store
from chatkit.types import Attachment
from chatkit.types.wire import WIRE_CONTEXT

if TYPE_CHECKING:
    from chatkit.asgi._metrics import Metrics

_ATTACHMENT: TypeAdapter[Attachment] = TypeAdapter(Attachment)
_INLINE_TYPES = ("image/", "application/pdf")


class UploadEndpoints:
    """The HTTP side of an attachment store, recording attachments in the server's `Store`."""

    def __init__(
        self, files: AttachmentFiles, store: Store[Any], context: ContextBuilder | None, metrics: Metrics | None = None
    ) -> None:
        self.files = files
        self.store = store
        self.context_builder = context
        self.metrics = metrics

    def routes(self, path: str) -> list[Route]:
        """The upload and file routes below `path`."""
        return [
            Route(f"{path}/uploads/{{attachment_id}}", self.two_phase_upload, methods=["PUT", "POST"]),
            Route(f"{path}/upload", self.direct_upload, methods=["POST"]),
            Route(f"{path}/files/{{attachment_id}}", self.serve_file, methods=["GET", "HEAD"]),
        ]

    async def two_phase_upload(self, request: Request) -> Response:
        """Receive the bytes of an attachment announced by `attachments.create`, once."""
        try:
            attachment_id = self._attachment_id(request)
            signed_for = self.files.verify("upload", attachment_id, request.query_params.get("token", ""))
            if signed_for is None:
                raise HTTPProblem(403, "invalid_token", "the upload token is invalid or has expired")
            context = await build_context(self.context_builder, request)
            scope_key = self.files.scope_key(context)
            if scope_key != signed_for:
                raise NotFoundError(f"attachment {attachment_id} not found")
            attachment = await self.store.load_attachment(attachment_id, context)
            if attachment.upload_descriptor is None:
                raise HTTPProblem(409, "already_uploaded", f"attachment {attachment_id} was uploaded already")
            body = await upload_body(request, self.files.max_bytes)
            saved = await self.files.save_upload(
                attachment_id, attachment.name, attachment.mime_type, body.chunks, scope_key
            )
            stored = saved.size
            base_url = _endpoint_url(request, f"/uploads/{attachment_id}")
            uploaded = self.files.describe(
                attachment_id, attachment.name, saved.mime_type, scope_key, base_url=base_url
            )
            uploaded.thread_id = attachment.thread_id
            uploaded.metadata = {**(attachment.metadata or {}), **(uploaded.metadata or {})}
            await self.store.save_attachment(uploaded, context)
            await self._unless_deleted_meanwhile(attachment_id, scope_key, context)
        except Exception as error:
            return self._count("two_phase", problem_response(request, error))
        return self._count("two_phase", _attachment_response(uploaded), stored)

    async def _unless_deleted_meanwhile(self, attachment_id: str, scope_key: str, context: Any) -> None:
        """Undo an upload that raced `attachments.delete`: the deletion wins, whatever the order.

        A deletion removes the file before it deletes the record. A file still there after the
        record was saved means the deletion has not begun, and will remove both; a file gone
        means it ran, maybe before the save: the record saved here is deleted again.
        """
        if await self.files.is_reserved(attachment_id, scope_key):
            return
        with contextlib.suppress(NotFoundError):
            await self.store.delete_attachment(attachment_id, context)
        raise NotFoundError(f"attachment {attachment_id} was deleted during its upload")

    async def direct_upload(self, request: Request) -> Response:
        """Store a file posted as multipart `file` and answer its attachment."""
        try:
            context = await build_context(self.context_builder, request)
            body = await upload_body(request, self.files.max_bytes, multipart_only=True)
            base_url = _endpoint_url(request, "/upload")
            counted = CountedChunks(body.chunks)
            attachment = await self.files.add_upload(body.filename, body.content_type, counted, context, base_url)
            await self.store.save_attachment(attachment, context)
        except Exception as error:
            return self._count("direct", problem_response(request, error))
        return self._count("direct", _attachment_response(attachment), counted.size)

    def _count(self, strategy: str, response: Response, stored_bytes: int = 0) -> Response:
        """`response`, counted in the upload metrics."""
        if self.metrics is not None:
            self.metrics.upload_done(strategy, response.status_code, stored_bytes)
        return response

    async def serve_file(self, request: Request) -> Response:
        """Send a stored file to a holder of its preview token, or to its owner."""
        try:
            attachment_id = self._attachment_id(request)
            token = request.query_params.get("token")
            if token is not None:
                scope_key = self.files.verify("file", attachment_id, token)
                if scope_key is None:
                    raise HTTPProblem(403, "invalid_token", "the file token is invalid or has expired")
            else:
                context = await build_context(self.context_builder, request)
                await self.store.load_attachment(attachment_id, context)
                scope_key = self.files.scope_key(context)
            stored = await self.files.stream_file(attachment_id, scope_key)
            if stored is None:
                raise NotFoundError(f"attachment {attachment_id} has no uploaded file")
        except Exception as error:
            return problem_response(request, error)
        return file_response(
            request,
            stored,
            inline=stored.mime_type.startswith(_INLINE_TYPES),
            headers={
                "x-content-type-options": "nosniff",
                "content-security-policy": "default-src 'none'; sandbox",
                "cache-control": "private, max-age=3600",
            },
        )

    def _attachment_id(self, request: Request) -> str:
        attachment_id = request.path_params["attachment_id"]
        if not is_valid_attachment_id(attachment_id):
            raise NotFoundError(f"no attachment {attachment_id!r}")
        return attachment_id


def _endpoint_url(request: Request, suffix: str) -> str:
    """The URL of the ChatKit endpoint this route (`suffix`) hangs from: new preview URLs point below it."""
    url = str(request.url.replace(query=""))
    return url[: -len(suffix)] if url.endswith(suffix) else url


def _attachment_response(attachment: Attachment) -> Response:
    body = _ATTACHMENT.dump_json(attachment, by_alias=True, exclude_none=True, context=WIRE_CONTEXT)
    return Response(body, media_type="application/json")


def problem_response(request: Request, error: Exception) -> Response:
    """The JSON answer for an error raised by a route, recorded in the access log's outcome."""
    problem = problem_from(error)
    record = access_record(request.scope)
    if record is not None:
        record.outcome = problem.code
    body = problem_body(problem, record.request_id if record is not None else None)
    return Response(body, status_code=problem.status, media_type="application/json", headers=problem.headers)
