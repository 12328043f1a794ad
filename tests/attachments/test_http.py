"""Upload bodies and file responses over real HTTP, through two app instances sharing their files.

The app here wires `upload_body`, an attachment store's streaming face and `file_response` the
way the upload routes do, without their bookkeeping in a `Store`: an upload through one
instance must be served by the other, whichever store keeps the bytes.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatkit.asgi._http import problem_body, problem_from
from chatkit.asgi._upload_bodies import file_response, upload_body
from chatkit.attachments._s3 import S3AttachmentStore
from chatkit.store import NotFoundError
from chatkit.types import Attachment, AttachmentCreateParams
from tests.http import serving

from .backends import MAX_BYTES, Files, make_files, read
from .test_contract import png, text

ALICE = {"user_id": "alice"}


def files_app(files: Files, announced: dict[str, Attachment]) -> Starlette:
    """Upload and file routes over `files`; `announced` holds what `attachments.create` returned."""

    async def two_phase(request: Request) -> Response:
        attachment_id = request.path_params["attachment_id"]
        scope_key = files.streams.verify("upload", attachment_id, request.query_params.get("token", ""))
        if scope_key is None:
            return JSONResponse({"error": "invalid_token"}, status_code=403)
        attachment = announced[attachment_id]
        body = await upload_body(request, files.streams.max_bytes)
        saved = await files.streams.save_upload(
            attachment_id, attachment.name, attachment.mime_type, body.chunks, scope_key
        )
        return JSONResponse({"mime_type": saved.mime_type, "size": saved.size})

    async def direct(request: Request) -> Response:
        body = await upload_body(request, files.streams.max_bytes, multipart_only=True)
        attachment = await files.streams.add_upload(body.filename, body.content_type, body.chunks, ALICE)
        return JSONResponse({"id": attachment.id, "name": attachment.name, "mime_type": attachment.mime_type})

    async def serve(request: Request) -> Response:
        attachment_id = request.path_params["attachment_id"]
        scope_key = files.streams.verify("file", attachment_id, request.query_params.get("token", ""))
        stream = None if scope_key is None else await files.streams.stream_file(attachment_id, scope_key)
        if stream is None:
            raise NotFoundError(f"no file {attachment_id}")
        return file_response(request, stream, inline=False, headers={"x-content-type-options": "nosniff"})

    def answering_problems(endpoint: Any) -> Any:
        async def handle(request: Request) -> Response:
            try:
                return await endpoint(request)
            except Exception as error:
                problem = problem_from(error)
                return Response(problem_body(problem, None), status_code=problem.status, media_type="application/json")

        return handle

    return Starlette(
        routes=[
            Route("/uploads/{attachment_id}", answering_problems(two_phase), methods=["PUT", "POST"]),
            Route("/upload", answering_problems(direct), methods=["POST"]),
            Route("/files/{attachment_id}", answering_problems(serve), methods=["GET", "HEAD"]),
        ]
    )


class Deployment:
    """Two app instances on one store's files, and a client."""

    def __init__(self, files: list[Files], urls: list[str], client: httpx.AsyncClient) -> None:
        self.files = files
        self.urls = urls
        self.client = client
        self.announced: dict[str, Attachment] = {}

    async def announce(self, name: str, mime_type: str, size: int) -> Attachment:
        params = AttachmentCreateParams(name=name, size=size, mime_type=mime_type)
        attachment = await self.files[0].store.create_attachment(params, ALICE)
        self.announced[attachment.id] = attachment
        return attachment

    def upload_url(self, attachment: Attachment, instance: int = 0) -> str:
        assert attachment.upload_descriptor is not None
        if isinstance(self.files[0].store, S3AttachmentStore):
            # Its descriptor points at the bucket (tests/attachments/test_s3.py); the app's route takes a token of ours.
            token = self.files[0].store.sign("upload", attachment.id, 60, self.files[0].streams.scope_key(ALICE))
            return f"{self.urls[instance]}/uploads/{attachment.id}?token={token}"
        return (
            f"{self.urls[instance]}/uploads/{attachment.id}?{str(attachment.upload_descriptor.url).partition('?')[2]}"
        )

    def file_url(self, attachment_id: str, instance: int = 1) -> str:
        token = self.files[0].store.sign("file", attachment_id, 60, self.files[0].streams.scope_key(ALICE))
        return f"{self.urls[instance]}/files/{attachment_id}?token={token}"


@pytest.fixture
async def deployment(backend: str, tmp_path: Path) -> AsyncIterator[Deployment]:
    async with AsyncExitStack() as stack:
        instances = [await stack.enter_async_context(make_files(backend, tmp_path)) for _ in range(2)]
        announced: dict[str, Attachment] = {}
        urls = [await stack.enter_async_context(serving(files_app(files, announced))) for files in instances]
        client = await stack.enter_async_context(httpx.AsyncClient(timeout=30))
        deployed = Deployment(instances, urls, client)
        deployed.announced = announced
        yield deployed


async def test_a_raw_upload_to_one_instance_is_downloaded_from_the_other(deployment: Deployment) -> None:
    data = text(40_000)
    attachment = await deployment.announce("notes.txt", "text/plain", len(data))
    uploaded = await deployment.client.put(deployment.upload_url(attachment), content=data)
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json() == {"mime_type": "text/plain", "size": len(data)}

    served = await deployment.client.get(deployment.file_url(attachment.id))
    assert served.status_code == 200
    assert served.content == data
    assert served.headers["content-type"].startswith("text/plain")
    assert served.headers["content-length"] == str(len(data))
    assert served.headers["content-disposition"] == 'attachment; filename="notes.txt"'
    assert served.headers["x-content-type-options"] == "nosniff"
    head = await deployment.client.head(deployment.file_url(attachment.id))
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(data))

    again = await deployment.client.put(deployment.upload_url(attachment, 1), content=data)
    assert again.status_code == 409


async def test_a_multipart_upload_streams_its_file_field_only(deployment: Deployment) -> None:
    image = png(40, 40)
    attachment = await deployment.announce("red.png", "image/png", len(image))
    uploaded = await deployment.client.post(
        deployment.upload_url(attachment),
        data={"before": "x" * 1000, "zafter": "y"},
        files={"file": ("red.png", image, "image/png")},
    )
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json() == {"mime_type": "image/png", "size": len(image)}
    assert await read(deployment.files[1], attachment.id, ALICE) == image


async def test_a_direct_upload_keeps_a_safe_name_and_the_sniffed_type(deployment: Deployment) -> None:
    data = text(9000)
    uploaded = await deployment.client.post(
        f"{deployment.urls[0]}/upload", files={"file": ("../../n\u00f6tes.txt", data, "application/octet-stream")}
    )
    assert uploaded.status_code == 200, uploaded.text
    attachment = uploaded.json()
    assert (attachment["name"], attachment["mime_type"]) == ("n\u00f6tes.txt", "text/plain")
    served = await deployment.client.get(deployment.file_url(attachment["id"]))
    assert served.content == data
    assert served.headers["content-disposition"] == "attachment; filename*=utf-8''n%C3%B6tes.txt"


async def test_a_multipart_body_cut_short_stores_nothing(deployment: Deployment) -> None:
    data = text(20_000)
    attachment = await deployment.announce("notes.txt", "text/plain", len(data))
    boundary = "cutshort"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="notes.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()
    headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
    cut = await deployment.client.post(deployment.upload_url(attachment), content=head + data, headers=headers)
    assert cut.status_code == 400
    assert "boundary" in cut.json()["error"]["message"]
    assert await read(deployment.files[1], attachment.id, ALICE) is None

    whole = head + data + f"\r\n--{boundary}--\r\n".encode()
    retried = await deployment.client.post(deployment.upload_url(attachment, 1), content=whole, headers=headers)
    assert retried.status_code == 200, retried.text
    assert await read(deployment.files[0], attachment.id, ALICE) == data


async def test_bodies_that_are_not_uploads_are_refused(deployment: Deployment) -> None:
    client, url = deployment.client, deployment.urls[0]
    assert (await client.post(f"{url}/upload", content=b"raw bytes")).status_code == 400
    no_file = await client.post(
        f"{url}/upload", data={"other": "field"}, files={"notfile": ("a.txt", b"a", "text/plain")}
    )
    assert no_file.status_code == 400
    assert "no file field" in no_file.json()["error"]["message"]
    two_files = await client.post(
        f"{url}/upload", files=[("file", ("a.txt", b"a", "text/plain")), ("file", ("b.txt", b"b", "text/plain"))]
    )
    assert two_files.status_code == 400
    another_file = await client.post(
        f"{url}/upload", files={"file": ("a.txt", b"a", "text/plain"), "other": ("b.txt", b"b", "text/plain")}
    )
    assert another_file.status_code == 400
    no_boundary = await client.post(f"{url}/upload", content=b"x", headers={"content-type": "multipart/form-data"})
    assert no_boundary.status_code == 400


async def test_oversize_uploads_are_413_however_they_are_sent(deployment: Deployment) -> None:
    too_big = text(MAX_BYTES + 1)
    attachment = await deployment.announce("big.txt", "text/plain", 10)
    raw = await deployment.client.put(deployment.upload_url(attachment), content=too_big)
    assert raw.status_code == 413

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(too_big), 8192):
            yield too_big[start : start + 8192]

    # No Content-Length to refuse early by: the stream is cut off as it grows.
    streamed = await deployment.client.put(deployment.upload_url(attachment), content=chunked())
    assert streamed.status_code == 413
    multipart = await deployment.client.post(
        f"{deployment.urls[0]}/upload", files={"file": ("big.txt", too_big, "text/plain")}
    )
    assert multipart.status_code == 413
    assert await read(deployment.files[1], attachment.id, ALICE) is None


@pytest.mark.parametrize("backend", ["postgres"])
async def test_a_multipart_upload_and_its_download_hold_no_whole_file(backend: str, tmp_path: Path) -> None:
    size, piece = 4 * 1024 * 1024, b"0123456789abcdef" * 4096
    boundary = "streamed"

    async def body() -> AsyncIterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        for _ in range(size // len(piece)):
            yield piece
        yield f"\r\n--{boundary}--\r\n".encode()

    async with (
        make_files(backend, tmp_path, max_bytes=size, chunk_size=256 * 1024) as files,
        serving(files_app(files, {})) as url,
        httpx.AsyncClient(timeout=60) as client,
    ):
        tracemalloc.start()
        try:
            uploaded = await client.post(
                f"{url}/upload",
                content=body(),
                headers={"content-type": f"multipart/form-data; boundary={boundary}"},
            )
            _, upload_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            token = files.store.sign("file", uploaded.json()["id"], 60, files.streams.scope_key(ALICE))
            total = 0
            async with client.stream("GET", f"{url}/files/{uploaded.json()['id']}?token={token}") as served:
                async for data in served.aiter_raw():
                    total += len(data)
            _, download_peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert uploaded.status_code == 200, uploaded.text
    assert total == size
    # Client and server share this process; together they hold a few pieces, not the 4 MiB file.
    assert upload_peak < 2 * 1024 * 1024, upload_peak
    assert download_peak < 2 * 1024 * 1024, download_peak
