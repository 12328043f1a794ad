"""Attachment bytes in an S3 bucket (or an S3-compatible service: MinIO, R2, GCS interoperability).

The client is `aiobotocore`: the asyncio port of botocore, the library the AWS SDK for Python is
built on, kept in step with botocore's releases by the aio-libs maintainers. It speaks every S3
feature botocore does (presigning, multipart uploads, conditional writes) without a thread per call.

Each attachment is a handful of objects under `{prefix}{tenant key}/{attachment id}/`, the tenant
key being the same hash of the context's scope the other stores use:

- `record`: JSON naming the file and the state of its upload; its presence is the reservation.
  It is written with `If-None-Match: *`, so two processes never reserve the same id.
- `incoming`: where the browser puts the bytes of a two-phase upload, through a presigned `PUT`.
  Nothing is served from it: a presigned URL can be used again until it expires, so its bytes
  are only taken (copied to `data`) once, by `confirm_upload`, after the size and type checks.
- `claim`: the single use of an upload through the app's own upload route (`If-None-Match: *`).
- `data`: the checked bytes that are served.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterable, AsyncIterator, Collection
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, Generic

from chatkit._mime import SNIFF_BYTES, base_mime
from chatkit.attachments._checks import (
    DEFAULT_ALLOWED_MIME_TYPES,
    DEFAULT_PREVIEW_TTL,
    SCOPE_KEY_PATTERN,
    SCOPE_METADATA_KEY,
    AttachmentRejectedError,
    is_valid_attachment_id,
    safe_file_name,
)
from chatkit.attachments._signing import SignedAttachmentStore
from chatkit.attachments._streams import FileStream, SavedFile
from chatkit.store import NotFoundError, TContext
from chatkit.stores._errors import IdConflictError
from chatkit.stores._scope import ScopeFunction, default_scope
from chatkit.types import Attachment, AttachmentCreateParams, AttachmentUploadDescriptor

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

# With 96 random bits a clash is a broken generator; a few retries keep a tiny id space usable.
_RESERVE_ATTEMPTS = 8

MIN_PART_SIZE = 5 * 1024 * 1024
"""S3 refuses multipart parts below 5 MiB (but the last): the smallest slice an upload can hold."""

DEFAULT_PART_SIZE = 8 * 1024 * 1024
"""Bytes per part of a streamed upload: the most of a file the store holds in memory at once."""


class S3AttachmentStore(SignedAttachmentStore[TContext], Generic[TContext]):
    """Keeps attachment bytes in an S3 bucket; browsers upload straight to it through presigned URLs.

    Two-phase uploads are answered with a presigned `PUT` to the bucket, valid for `upload_ttl`
    seconds; `confirm_upload` (or the first read of the file) checks what arrived against
    `max_bytes` and the allowed types, and deletes it if refused. Direct uploads through the app
    are streamed to the bucket in parts of `part_size` bytes. `attachment_url` gives a presigned
    `GET` valid for `url_ttl` seconds. Connection settings (`endpoint_url`, `region_name`, keys)
    default to botocore's usual sources (environment, `~/.aws`, instance roles). Preview URLs stay
    the app's signed `/files/` URLs, so they can be refreshed without asking the bucket.
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "chatkit/",
        endpoint_url: str | None = None,
        region_name: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        secret: str | bytes | None = None,
        base_url: str | None = None,
        max_bytes: int = 10 * 1024 * 1024,
        allowed_mime_types: Collection[str] = DEFAULT_ALLOWED_MIME_TYPES,
        upload_ttl: float = 900.0,
        preview_ttl: float | None = DEFAULT_PREVIEW_TTL,
        url_ttl: float = 300.0,
        scope: ScopeFunction = default_scope,
        single_tenant: bool = False,
        part_size: int = DEFAULT_PART_SIZE,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (the S3 minimum)")
        super().__init__(
            secret=secret,
            base_url=base_url,
            max_bytes=max_bytes,
            allowed_mime_types=allowed_mime_types,
            upload_ttl=upload_ttl,
            preview_ttl=preview_ttl,
            scope=scope,
            single_tenant=single_tenant,
        )
        self.bucket = bucket
        self.prefix = prefix
        self.url_ttl = url_ttl
        self.part_size = part_size
        self._client_options: dict[str, Any] = {
            "endpoint_url": endpoint_url,
            "region_name": region_name,
            "aws_access_key_id": aws_access_key_id,
            "aws_secret_access_key": aws_secret_access_key,
        }
        self._client: S3Client | None = None
        self._exit_stack: AsyncExitStack | None = None
        self._open_lock = asyncio.Lock()

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Create the S3 client (its connection pool); every other method does so on first use."""
        await self._s3()

    async def aclose(self) -> None:
        """Close the S3 client; a later use opens it again."""
        async with self._open_lock:
            if self._exit_stack is not None:
                stack, self._exit_stack, self._client = self._exit_stack, None, None
                await stack.aclose()

    async def __aenter__(self) -> S3AttachmentStore[TContext]:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _s3(self) -> S3Client:
        async with self._open_lock:
            if self._client is None:
                from aiobotocore.config import AioConfig  # pyright: ignore[reportMissingTypeStubs]
                from aiobotocore.session import get_session  # pyright: ignore[reportMissingTypeStubs, reportUnknownVariableType]

                # Signature version 4: what every region and S3-compatible service accepts for presigned URLs.
                config = AioConfig(signature_version="s3v4")
                stack = AsyncExitStack()
                creating: Any = get_session().create_client("s3", config=config, **self._client_options)  # pyright: ignore[reportUnknownVariableType, reportUnknownMemberType]
                client: S3Client = await stack.enter_async_context(creating)
                self._client, self._exit_stack = client, stack
                return client
            return self._client

    async def ping(self) -> None:
        """Raise unless the bucket answers (exists and these credentials may use it)."""
        await (await self._s3()).head_bucket(Bucket=self.bucket)

    # -- objects -----------------------------------------------------------------------------

    def _key(self, scope_key: str, attachment_id: str, part: str) -> str:
        if not is_valid_attachment_id(attachment_id) or not SCOPE_KEY_PATTERN.fullmatch(scope_key):
            raise ValueError(f"invalid attachment id {attachment_id!r}")
        return f"{self.prefix}{scope_key}/{attachment_id}/{part}"

    async def _put_new(self, key: str, body: bytes) -> bool:
        """Write `key` unless it exists; whether this call created it."""
        try:
            await (await self._s3()).put_object(Bucket=self.bucket, Key=key, Body=body, IfNoneMatch="*")
        except Exception as error:
            if _error_code(error) in ("PreconditionFailed", "ConditionalRequestConflict"):
                return False
            raise
        return True

    async def _get(self, key: str, byte_range: str | None = None) -> bytes | None:
        client = await self._s3()
        try:
            if byte_range is None:
                response = await client.get_object(Bucket=self.bucket, Key=key)
            else:
                response = await client.get_object(Bucket=self.bucket, Key=key, Range=byte_range)
        except client.exceptions.NoSuchKey:
            return None
        # aiobotocore's stubs leave the body's methods untyped.
        body: Any = response["Body"]
        async with body:
            return bytes(await body.read())

    async def _size(self, key: str) -> int | None:
        try:
            head = await (await self._s3()).head_object(Bucket=self.bucket, Key=key)
        except Exception as error:
            if _error_code(error) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return head["ContentLength"]

    async def _delete(self, scope_key: str, attachment_id: str, *parts: str) -> None:
        objects: list[Any] = [{"Key": self._key(scope_key, attachment_id, part)} for part in parts]
        await (await self._s3()).delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})

    async def _record(self, scope_key: str, attachment_id: str) -> dict[str, Any] | None:
        if not is_valid_attachment_id(attachment_id) or not SCOPE_KEY_PATTERN.fullmatch(scope_key):
            return None
        raw = await self._get(self._key(scope_key, attachment_id, "record"))
        return None if raw is None else json.loads(raw)

    async def _write_record(self, scope_key: str, attachment_id: str, record: dict[str, Any]) -> None:
        key = self._key(scope_key, attachment_id, "record")
        await (await self._s3()).put_object(Bucket=self.bucket, Key=key, Body=json.dumps(record).encode())

    async def _reserve_new_id(self, mime_type: str, context: Any, scope_key: str, record: dict[str, Any]) -> str:
        """A fresh id whose record this call created: no two attachments of a tenant share one."""
        body = json.dumps(record).encode()
        for _ in range(_RESERVE_ATTEMPTS):
            attachment_id = self.generate_attachment_id(mime_type, context)
            if is_valid_attachment_id(attachment_id) and await self._put_new(
                self._key(scope_key, attachment_id, "record"), body
            ):
                return attachment_id
        raise IdConflictError(f"no free attachment id after {_RESERVE_ATTEMPTS} tries")

    # -- the AttachmentStore interface -------------------------------------------------------

    async def create_attachment_at(
        self, input: AttachmentCreateParams, context: TContext, base_url: str | None
    ) -> Attachment:
        """Check the announced file, reserve it, and answer a presigned `PUT` straight to the bucket."""
        mime_type = base_mime(input.mime_type)
        name = safe_file_name(input.name)
        self.check_size(input.size, name)
        self.check_mime_type(mime_type)
        scope_key = self.scope_key(context)
        record = {"name": name, "mime_type": mime_type, "ready": False}
        attachment_id = await self._reserve_new_id(mime_type, context, scope_key, record)
        url = await (await self._s3()).generate_presigned_url(
            "put_object",
            Params={"Bucket": self.bucket, "Key": self._key(scope_key, attachment_id, "incoming")},
            ExpiresIn=int(self.upload_ttl),
        )
        descriptor = AttachmentUploadDescriptor.model_validate({"url": url, "method": "PUT"})
        return self.describe(attachment_id, name, mime_type, scope_key, upload_descriptor=descriptor, base_url=base_url)

    async def delete_attachment(self, attachment_id: str, context: TContext) -> None:
        """Delete the attachment's objects, if the caller's tenant has any; another tenant's stay."""
        await self.delete_file(attachment_id, self.scope_key(context))

    async def delete_file(self, attachment_id: str, scope_key: str) -> None:
        """Delete the objects of one attachment of the tenant `scope_key`, if there are any."""
        if is_valid_attachment_id(attachment_id) and SCOPE_KEY_PATTERN.fullmatch(scope_key):
            await self._delete(scope_key, attachment_id, "record", "claim", "incoming", "data")

    async def delete_tenant_files(self, scope_key: str) -> int:
        """Delete every object under the tenant `scope_key`'s prefix; how many attachments had some."""
        if not SCOPE_KEY_PATTERN.fullmatch(scope_key):
            return 0
        client = await self._s3()
        attachments: set[str] = set()
        prefix = f"{self.prefix}{scope_key}/"
        while True:
            # Keys just deleted are gone from the next listing, so each page starts from the top;
            # one page holds at most 1,000 keys, the most one DeleteObjects takes.
            page = await client.list_objects_v2(Bucket=self.bucket, Prefix=prefix)
            keys = [entry["Key"] for entry in page.get("Contents", []) if "Key" in entry]
            if not keys:
                break
            attachments.update(key[len(prefix) :].partition("/")[0] for key in keys)
            objects: list[Any] = [{"Key": key} for key in keys]
            answer = await client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
            if answer.get("Errors"):
                # Listing again would find the same keys for ever.
                raise RuntimeError(f"the bucket refused to delete objects: {answer['Errors'][:3]}")
        return len(attachments)

    # -- two-phase uploads into the bucket ---------------------------------------------------

    async def confirm_upload(self, attachment_id: str, context: Any, base_url: str | None = None) -> Attachment:
        """Accept the bytes the browser put in the bucket: the attachment record, with the checked type.

        An image's preview URL hangs below `base_url` unless one is configured.

        `AttachmentRejectedError` if they are over the limit (413) or not an accepted type (415):
        the object is deleted, and the browser may put other bytes while its URL lasts.
        `NotFoundError` if nothing arrived, or the attachment does not exist.
        """
        scope_key = self.scope_key(context)
        record = await self._confirm(attachment_id, scope_key)
        if record is None:
            raise NotFoundError(f"attachment {attachment_id} was not uploaded")
        return self.describe(attachment_id, record["name"], record["mime_type"], scope_key, base_url=base_url)

    async def _confirm(self, attachment_id: str, scope_key: str) -> dict[str, Any] | None:
        """The record of an uploaded file, checking and taking a browser's upload first; None if none."""
        record = await self._record(scope_key, attachment_id)
        if record is None or record["ready"]:
            return record
        incoming = self._key(scope_key, attachment_id, "incoming")
        size = await self._size(incoming)
        if size is None:
            return None
        try:
            self.check_size(size, record["name"])
            head = await self._get(incoming, f"bytes=0-{SNIFF_BYTES - 1}") if size else b""
            if head is None:
                return await self._confirmed_meanwhile(scope_key, attachment_id)
            mime_type = self.verify_content(record["mime_type"], head)
        except AttachmentRejectedError:
            await self._delete(scope_key, attachment_id, "incoming")
            raise
        # Copied, not served in place: a second PUT on the same URL cannot replace checked bytes.
        try:
            await (await self._s3()).copy_object(
                Bucket=self.bucket,
                Key=self._key(scope_key, attachment_id, "data"),
                CopySource={"Bucket": self.bucket, "Key": incoming},
                ContentType=mime_type,
                MetadataDirective="REPLACE",
            )
        except Exception as error:
            if _error_code(error) not in ("NoSuchKey", "404", "NotFound"):
                raise
            return await self._confirmed_meanwhile(scope_key, attachment_id)
        record = {**record, "mime_type": mime_type, "ready": True, "size": size}
        await self._write_record(scope_key, attachment_id, record)
        await self._delete(scope_key, attachment_id, "incoming")
        return record

    async def _confirmed_meanwhile(self, scope_key: str, attachment_id: str) -> dict[str, Any] | None:
        """The record after the upload vanished mid-confirmation: another confirmation (the preview
        route and the converter may both read a new file at once) took it, or it was deleted."""
        record = await self._record(scope_key, attachment_id)
        return record if record is not None and record["ready"] else None

    # -- uploads through the app, streamed to the bucket -------------------------------------

    async def save_upload(
        self,
        attachment_id: str,
        name: str,
        declared_mime_type: str | None,
        chunks: AsyncIterable[bytes],
        scope_key: str,
    ) -> SavedFile:
        """Store the single upload of an announced attachment sent through the app, part by part.

        `AttachmentRejectedError`: uploaded already (409), too large (413), not the declared or an
        accepted type (415). `NotFoundError`: no such attachment, or deleted before the upload ended.
        A refused upload stores nothing and leaves the attachment ready for another try.
        """
        record = await self._record(scope_key, attachment_id)
        if record is None:
            raise NotFoundError(f"attachment {attachment_id} not found")
        # Bytes the browser put in the bucket and were confirmed count as the single upload too.
        if record["ready"] or not await self._put_new(self._key(scope_key, attachment_id, "claim"), b""):
            raise AttachmentRejectedError(f"attachment {attachment_id} was uploaded already", status_code=409)
        try:
            return await self._receive(scope_key, attachment_id, name, declared_mime_type, chunks)
        except BaseException:
            await self._delete(scope_key, attachment_id, "claim", "data")
            raise

    async def add_upload(
        self,
        filename: str | None,
        declared_mime_type: str | None,
        chunks: AsyncIterable[bytes],
        context: Any,
        base_url: str | None = None,
    ) -> Attachment:
        """Store a file under a fresh id of the caller's tenant (a direct upload); the record to save."""
        name = safe_file_name(filename)
        scope_key = self.scope_key(context)
        declared = base_mime(declared_mime_type or "application/octet-stream")
        record = {"name": name, "mime_type": declared, "ready": False}
        attachment_id = await self._reserve_new_id(declared, context, scope_key, record)
        try:
            saved = await self._receive(scope_key, attachment_id, name, declared_mime_type, chunks)
        except BaseException:
            await self._delete(scope_key, attachment_id, "record", "data")
            raise
        return self.describe(attachment_id, name, saved.mime_type, scope_key, base_url=base_url)

    async def _receive(
        self,
        scope_key: str,
        attachment_id: str,
        name: str,
        declared_mime_type: str | None,
        chunks: AsyncIterable[bytes],
    ) -> SavedFile:
        """Stream `chunks` to the `data` object, checked on the way, then mark the record ready."""
        key = self._key(scope_key, attachment_id, "data")
        mime_type, size = await _PartUpload(self, key, declared_mime_type).send(chunks)
        record = await self._record(scope_key, attachment_id)
        if record is None:
            raise NotFoundError(f"attachment {attachment_id} was deleted during its upload")
        await self._write_record(
            scope_key, attachment_id, {**record, "name": name, "mime_type": mime_type, "ready": True, "size": size}
        )
        return SavedFile(attachment_id, name, mime_type, size)

    # -- downloads ---------------------------------------------------------------------------

    async def is_reserved(self, attachment_id: str, scope_key: str) -> bool:
        """Whether the attachment still exists (announced or uploaded, and not deleted since)."""
        return await self._record(scope_key, attachment_id) is not None

    async def stream_file(self, attachment_id: str, scope_key: str) -> FileStream | None:
        """The uploaded file of an attachment of the tenant `scope_key`, read as the bucket sends it, or None.

        A browser's upload not yet confirmed is checked first; if refused, it is deleted and None answered.
        """
        try:
            record = await self._confirm(attachment_id, scope_key)
        except AttachmentRejectedError:
            return None
        if record is None or not record["ready"]:
            return None
        client = await self._s3()
        key = self._key(scope_key, attachment_id, "data")

        async def read() -> AsyncIterator[bytes]:
            try:
                response = await client.get_object(Bucket=self.bucket, Key=key)
            except client.exceptions.NoSuchKey:
                raise NotFoundError(f"attachment {attachment_id} was deleted") from None
            body: Any = response["Body"]
            async with body:
                async for data in body.iter_chunks():
                    yield bytes(data)

        return FileStream(record["name"], record["mime_type"], int(record["size"]), read)

    async def attachment_url(self, attachment: Attachment) -> str | None:
        """A presigned `GET` of the attachment's bytes, valid for `url_ttl` seconds; None if not uploaded."""
        scope_key = (attachment.metadata or {}).get(SCOPE_METADATA_KEY)
        if not isinstance(scope_key, str):
            return None
        try:
            record = await self._confirm(attachment.id, scope_key)
        except AttachmentRejectedError:
            return None
        if record is None or not record["ready"]:
            return None
        return await (await self._s3()).generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._key(scope_key, attachment.id, "data"),
                "ResponseContentType": record["mime_type"],
            },
            ExpiresIn=int(self.url_ttl),
        )

    # -- copying between stores --------------------------------------------------------------

    async def import_file(
        self, attachment_id: str, scope_key: str, name: str, mime_type: str, chunks: AsyncIterable[bytes]
    ) -> bool:
        """Put a file copied from another store at its own id and tenant key; False if one is there already.

        The bytes were checked when first uploaded, so neither size nor type is checked again; they
        are streamed to the bucket in parts of `part_size` bytes. The record, written last, makes
        the file visible: a copy interrupted before it is simply written again.
        """
        record = await self._record(scope_key, attachment_id)
        if record is not None and record["ready"]:
            return False
        upload = _PartUpload(self, self._key(scope_key, attachment_id, "data"), mime_type)
        pending = bytearray()
        size = 0
        try:
            async for piece in chunks:
                size += len(piece)
                pending += piece
                if len(pending) >= self.part_size:
                    await upload._part(bytes(pending[: self.part_size]))  # pyright: ignore[reportPrivateUsage]
                    del pending[: self.part_size]
            await upload._finish(bytes(pending), mime_type)  # pyright: ignore[reportPrivateUsage]
        except BaseException:
            if upload.upload_id is not None:
                await (await self._s3()).abort_multipart_upload(
                    Bucket=self.bucket, Key=upload.key, UploadId=upload.upload_id
                )
            raise
        await self._write_record(
            scope_key, attachment_id, {"name": name, "mime_type": mime_type, "ready": True, "size": size}
        )
        return True


class _PartUpload:
    """One object written from a stream: a single `PUT` if it fits one part, else a multipart upload."""

    def __init__(self, store: S3AttachmentStore[Any], key: str, declared_mime_type: str | None) -> None:
        self.store = store
        self.key = key
        self.declared_mime_type = declared_mime_type
        self.upload_id: str | None = None
        self.parts: list[Any] = []

    async def send(self, chunks: AsyncIterable[bytes]) -> tuple[str, int]:
        """Write the stream, refusing it as soon as it is too large or not an accepted type."""
        store = self.store
        pending = bytearray()
        mime_type: str | None = None
        size = 0
        try:
            async for piece in chunks:
                size += len(piece)
                if size > store.max_bytes:
                    raise AttachmentRejectedError(
                        f"the file exceeds the limit of {store.max_bytes} bytes", status_code=413
                    )
                pending += piece
                if mime_type is None and len(pending) >= SNIFF_BYTES:
                    mime_type = store.verify_content(self.declared_mime_type, bytes(pending[:SNIFF_BYTES]))
                if len(pending) >= store.part_size:
                    await self._part(bytes(pending[: store.part_size]))
                    del pending[: store.part_size]
            if mime_type is None:
                mime_type = store.verify_content(self.declared_mime_type, bytes(pending))
            await self._finish(bytes(pending), mime_type)
        except BaseException:
            if self.upload_id is not None:
                await (await store._s3()).abort_multipart_upload(  # pyright: ignore[reportPrivateUsage]
                    Bucket=store.bucket, Key=self.key, UploadId=self.upload_id
                )
            raise
        return mime_type, size

    async def _part(self, data: bytes) -> None:
        client = await self.store._s3()  # pyright: ignore[reportPrivateUsage]
        if self.upload_id is None:
            created = await client.create_multipart_upload(Bucket=self.store.bucket, Key=self.key)
            self.upload_id = created["UploadId"]
        number = len(self.parts) + 1
        sent = await client.upload_part(
            Bucket=self.store.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=data
        )
        self.parts.append({"ETag": sent["ETag"], "PartNumber": number})

    async def _finish(self, rest: bytes, mime_type: str) -> None:
        client = await self.store._s3()  # pyright: ignore[reportPrivateUsage]
        if self.upload_id is None:
            await client.put_object(Bucket=self.store.bucket, Key=self.key, Body=rest, ContentType=mime_type)
            return
        if rest:
            await self._part(rest)
        await client.complete_multipart_upload(
            Bucket=self.store.bucket, Key=self.key, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
        )


def _error_code(error: Exception) -> str:
    """The S3 error code of a botocore `ClientError`, or "" for any other error."""
    response: Any = getattr(error, "response", None)
    if not isinstance(response, dict):
        return ""
    details: Any = response.get("Error", {})  # pyright: ignore[reportUnknownMemberType, reportUnknownVariableType]
    return str(details.get("Code", "")) if isinstance(details, dict) else ""  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
