"""Upload bodies read as they arrive, and stored files sent as they are read.

`upload_body` hands an upload route the bytes of a file piece by piece: a raw body as it comes,
or the `file` field of a `multipart/form-data` body parsed on the fly with python-multipart's
push parser, so no part is ever gathered in memory or spooled to disk. `file_response` sends a
`FileStream` with its length, type and name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from urllib.parse import quote

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from chatkit.asgi._http import BodyTooLarge, HTTPProblem, check_content_length
from chatkit.attachments._streams import FileStream

MULTIPART_OVERHEAD = 64 * 1024
"""Room for the multipart envelope (boundaries, headers, small fields) around a file of the maximum size."""

_MAX_PARTS = 16


@dataclass
class UploadBody:
    """An upload as it arrives: the client's file name and type (if it gave them) and the bytes."""

    filename: str | None
    content_type: str | None
    chunks: AsyncIterator[bytes]


async def upload_body(request: Request, max_bytes: int, *, multipart_only: bool = False) -> UploadBody:
    """The upload of `request`: the `file` field of a multipart body, or else the raw body.

    Returns once the file's headers are read; its bytes follow as `chunks` is iterated, which
    raises `HTTPProblem` (400) for a client that goes away or a body that breaks off, and
    `BodyTooLarge` (413) past `max_bytes` plus the envelope.
    """
    content_type = request.headers.get("content-type") or ""
    if not content_type.startswith("multipart/form-data"):
        if multipart_only:
            raise HTTPProblem(400, "invalid_request", "send the file as multipart/form-data in a field named file")
        check_content_length(request.scope, max_bytes)
        return UploadBody(None, content_type or None, _raw(request, max_bytes))
    limit = max_bytes + MULTIPART_OVERHEAD
    check_content_length(request.scope, limit)
    reader = _MultipartFile(request, content_type, limit)
    await reader.read_headers()
    return UploadBody(reader.filename, reader.content_type, reader.chunks())


def file_response(request: Request, stream: FileStream, *, inline: bool, headers: Mapping[str, str]) -> Response:
    """A response sending `stream` as it is read (nothing for HEAD), named for download or inline display."""
    quoted = quote(stream.name)
    # A plain ASCII name goes as it is; anything else in RFC 5987 form, which every browser reads.
    name = f'filename="{stream.name}"' if quoted == stream.name else f"filename*=utf-8''{quoted}"
    all_headers = {
        "content-length": str(stream.size),
        "content-disposition": f"{'inline' if inline else 'attachment'}; {name}",
        **headers,
    }
    if request.method == "HEAD":
        return Response(b"", media_type=stream.mime_type, headers=all_headers)
    return StreamingResponse(stream, media_type=stream.mime_type, headers=all_headers)


async def _raw(request: Request, limit: int) -> AsyncIterator[bytes]:
    received = 0
    try:
        async for piece in request.stream():
            received += len(piece)
            if received > limit:
                raise BodyTooLarge(limit)
            yield piece
    except ClientDisconnect:
        raise HTTPProblem(400, "client_disconnected", "the client went away") from None


class _MultipartFile:
    """The `file` field of a multipart body, pulled out while the body streams through the parser."""

    def __init__(self, request: Request, content_type: str, limit: int) -> None:
        _, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if not boundary:
            raise HTTPProblem(400, "invalid_request", "malformed multipart body: the content type names no boundary")
        self.filename: str | None = None
        self.content_type: str | None = None
        self._body = request.stream()
        self._limit = limit
        self._received = 0
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_end": self._on_end,
            },
        )
        self._parts = 0
        self._files = 0
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._found = False
        self._in_file = False
        self._ended = False
        self._other_bytes = 0
        # File bytes the parser handed over and the upload has not taken yet: one body piece at most.
        self._ready: list[bytes] = []

    async def read_headers(self) -> None:
        """Read the body up to the headers of the file field."""
        while not self._found:
            if not await self._feed():
                raise HTTPProblem(400, "invalid_request", "the multipart body has no file field named file")

    async def chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes, then the rest of the body, which must end with its closing boundary."""
        while True:
            ready, self._ready = self._ready, []
            for piece in ready:
                yield piece
            if not await self._feed():
                break
        # Raised before the upload sees its end, so a body cut short is never stored.
        if not self._ended:
            raise HTTPProblem(400, "invalid_request", "malformed multipart body: it does not end with its boundary")

    async def _feed(self) -> bool:
        """Push the next piece of the body through the parser; False once the body is over."""
        try:
            piece = await anext(self._body)
        except StopAsyncIteration:
            return False
        except ClientDisconnect:
            raise HTTPProblem(400, "client_disconnected", "the client went away") from None
        self._received += len(piece)
        if self._received > self._limit:
            raise BodyTooLarge(self._limit)
        try:
            self._parser.write(piece)
        except MultipartParseError as error:
            raise HTTPProblem(400, "invalid_request", f"malformed multipart body: {error}") from None
        return True

    # -- parser callbacks --------------------------------------------------------------------

    def _on_part_begin(self) -> None:
        self._parts += 1
        if self._parts > _MAX_PARTS:
            raise HTTPProblem(400, "invalid_request", f"malformed multipart body: more than {_MAX_PARTS} parts")
        self._headers = {}

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._headers[self._header_name.strip().lower()] = self._header_value.strip()
        self._header_name = self._header_value = b""

    def _on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        if b"filename" not in params:
            return
        self._files += 1
        if self._files > 1:
            raise HTTPProblem(400, "invalid_request", "malformed multipart body: more than one file")
        if params.get(b"name") != b"file":
            return
        self._found = self._in_file = True
        self.filename = params[b"filename"].decode("utf-8", errors="replace")
        declared = self._headers.get(b"content-type")
        self.content_type = declared.decode("latin-1") if declared else None

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._ready.append(data[start:end])
            return
        self._other_bytes += end - start
        if self._other_bytes > MULTIPART_OVERHEAD:
            raise HTTPProblem(
                400, "invalid_request", "malformed multipart body: the fields beside the file are too large"
            )

    def _on_part_end(self) -> None:
        self._in_file = False

    def _on_end(self) -> None:
        self._ended = True
