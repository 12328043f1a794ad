"""Attachment bytes in PostgreSQL, so that any process of a deployment serves any upload.

A file is a row of `attachment_files` (who owns it, its name and type, where its upload stands)
and its bytes are rows of `attachment_chunks`, a fixed-size slice each, written and read one at a
time: an upload or a download holds one slice in memory, never the whole file, and a pooled
connection only for the length of one statement, so a slow client ties up no connection.

Upload states: an announced file (`attachments.create`) starts `pending`; its upload claims it
(`pending` -> `uploading`, one row update, so the single-use upload token is spent exactly once
even when two processes race) and finishes it (`uploading` -> `ready`). Every slice is written
by a statement that first checks the claim is still live, so a delete (the row goes, its slices
cascade) stops an upload in flight at its next slice, and the attachment stays deleted.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import math
import re
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from chatkit.attachments import (
    DEFAULT_ALLOWED_MIME_TYPES,
    AttachmentRejectedError,
    TokenPurpose,
    is_valid_attachment_id,
    request_base_url,
    sniff_mime_type,
)
from chatkit.store import AttachmentStore, NotFoundError, TContext
from chatkit.stores._errors import StoreError, StoreUnavailableError
from chatkit.stores._scope import ScopeFunction, default_scope, resolve_scope
from chatkit.types import (
    Attachment,
    AttachmentCreateParams,
    AttachmentUploadDescriptor,
    FileAttachment,
    ImageAttachment,
)

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

T = TypeVar("T")

_INSTALL_HINT = "PostgresAttachmentStore needs psycopg 3 and psycopg-pool: pip install chatkit-server[postgres]"
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
_SNIFF_BYTES = 512
_TEXT_LIKE = {"application/json", "application/xml", "application/x-yaml", "application/yaml"}
_ZIP_LIKE_PREFIXES = ("application/vnd.openxmlformats-officedocument.", "application/vnd.oasis.opendocument.")

DEFAULT_CHUNK_SIZE = 256 * 1024
"""Bytes per stored slice: large enough that a 20 MB file is 80 statements, small enough to hold."""

# Own tables and own version counter, so the attachment store shares a schema with
# `PostgresStore` (the default, "chatkit") without either migrating the other's tables.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE {s}.attachment_files (
            scope text NOT NULL,
            key bytea NOT NULL,
            id text NOT NULL,
            name text NOT NULL,
            mime_type text NOT NULL,
            announced boolean NOT NULL,
            state text NOT NULL CHECK (state IN ('pending', 'uploading', 'ready')),
            attempt bigint NOT NULL DEFAULT 0,
            size bigint NOT NULL DEFAULT 0,
            chunks integer NOT NULL DEFAULT 0,
            touched_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (scope, key)
        )""",
        # A signed preview URL names the file but not its owner.
        "CREATE INDEX attachment_files_by_key ON {s}.attachment_files (key)",
        "CREATE INDEX attachment_files_uploading ON {s}.attachment_files (touched_at) WHERE state = 'uploading'",
        """CREATE TABLE {s}.attachment_chunks (
            scope text NOT NULL,
            key bytea NOT NULL,
            attempt bigint NOT NULL,
            seq integer NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (scope, key, attempt, seq),
            FOREIGN KEY (scope, key) REFERENCES {s}.attachment_files (scope, key) ON DELETE CASCADE
        )""",
        # Most uploads (images, PDFs) are compressed already: trying again only costs CPU.
        "ALTER TABLE {s}.attachment_chunks ALTER COLUMN data SET STORAGE EXTERNAL",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)

_QUERIES = {
    "announce": """INSERT INTO {s}.attachment_files (scope, key, id, name, mime_type, announced, state)
        VALUES (%s, %s, %s, %s, %s, true, 'pending') ON CONFLICT DO NOTHING""",
    "begin_direct": """INSERT INTO {s}.attachment_files (scope, key, id, name, mime_type, announced, state, attempt)
        VALUES (%s, %s, %s, %s, %s, false, 'uploading', 1) ON CONFLICT DO NOTHING""",
    # The single use of an upload token: one row update, which one caller wins. A claim left
    # behind by a process that died mid-upload may be taken over once it is stale.
    "claim": """UPDATE {s}.attachment_files SET state = 'uploading', attempt = attempt + 1, touched_at = now()
        WHERE scope = %s AND key = %s AND announced
        AND (state = 'pending' OR (state = 'uploading' AND touched_at < now() - make_interval(secs => %s)))
        RETURNING attempt, name, mime_type""",
    "state": "SELECT state FROM {s}.attachment_files WHERE scope = %s AND key = %s",
    # A slice is written only while its upload's claim is live: a delete or a takeover stops it.
    "write_chunk": """WITH live AS (
            UPDATE {s}.attachment_files SET touched_at = now()
            WHERE scope = %s AND key = %s AND attempt = %s AND state = 'uploading' RETURNING scope, key
        )
        INSERT INTO {s}.attachment_chunks (scope, key, attempt, seq, data) SELECT scope, key, %s, %s, %s FROM live
        ON CONFLICT (scope, key, attempt, seq) DO UPDATE SET data = excluded.data""",
    "finish": """UPDATE {s}.attachment_files SET state = 'ready', mime_type = %s, size = %s, chunks = %s,
        touched_at = now() WHERE scope = %s AND key = %s AND attempt = %s AND state = 'uploading'""",
    "drop_other_attempts": "DELETE FROM {s}.attachment_chunks WHERE scope = %s AND key = %s AND attempt <> %s",
    "release_claim": """UPDATE {s}.attachment_files SET state = 'pending', touched_at = now()
        WHERE scope = %s AND key = %s AND attempt = %s AND state = 'uploading'""",
    "drop_attempt": "DELETE FROM {s}.attachment_chunks WHERE scope = %s AND key = %s AND attempt = %s",
    "drop_direct": """DELETE FROM {s}.attachment_files
        WHERE scope = %s AND key = %s AND attempt = %s AND state = 'uploading' AND NOT announced""",
    "open_scoped": """SELECT scope, name, mime_type, size, chunks, attempt FROM {s}.attachment_files
        WHERE scope = %s AND key = %s AND state = 'ready'""",
    "open_any": """SELECT scope, name, mime_type, size, chunks, attempt FROM {s}.attachment_files
        WHERE key = %s AND state = 'ready' LIMIT 2""",
    "read_chunk": """SELECT data FROM {s}.attachment_chunks
        WHERE scope = %s AND key = %s AND attempt = %s AND seq = %s""",
    "delete": "DELETE FROM {s}.attachment_files WHERE scope = %s AND key = %s",
    "purge_direct": """DELETE FROM {s}.attachment_files WHERE state = 'uploading' AND NOT announced
        AND touched_at < now() - make_interval(secs => %s)""",
    "purge_announced": """WITH stale AS (
            UPDATE {s}.attachment_files SET state = 'pending', touched_at = now()
            WHERE state = 'uploading' AND announced AND touched_at < now() - make_interval(secs => %s)
            RETURNING scope, key
        )
        DELETE FROM {s}.attachment_chunks AS c USING stale WHERE c.scope = stale.scope AND c.key = stale.key""",
}


def _key(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def _lock_id(name: str) -> int:
    """A signed 64-bit advisory lock id, the same in every process."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)


def _base_mime(mime_type: str) -> str:
    return mime_type.split(";", 1)[0].strip().lower()


def _content_matches(declared: str, sniffed: str) -> bool:
    if declared == sniffed:
        return True
    if sniffed == "text/plain":
        return declared.startswith("text/") or declared in _TEXT_LIKE
    if sniffed == "application/zip":
        return declared.startswith(_ZIP_LIKE_PREFIXES) or declared.endswith("+zip")
    if sniffed == "application/octet-stream":
        return not (declared.startswith(("image/", "text/")) or declared in _TEXT_LIKE or declared == "application/pdf")
    return False


@dataclass(frozen=True)
class SavedFile:
    """What an upload stored: the name, the checked type and the size in bytes."""

    attachment_id: str
    name: str
    mime_type: str
    size: int


class FileStream:
    """A stored file, read slice by slice as it is iterated: `async for data in stream`."""

    def __init__(
        self, name: str, mime_type: str, size: int, read: Callable[[], AsyncIterator[bytes]] | None = None
    ) -> None:
        self.name = name
        self.mime_type = mime_type
        self.size = size
        self._read = read

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._read is None:
            raise RuntimeError("this FileStream carries no content")
        return self._read()


class StreamingAttachmentFiles(Protocol):
    """What the upload and file routes need from an attachment store that streams its bytes."""

    max_bytes: int

    def verify(self, purpose: TokenPurpose, attachment_id: str, token: str) -> bool:
        """Whether `token` grants `purpose` on `attachment_id` and has not expired."""
        ...

    def describe(
        self,
        attachment_id: str,
        name: str,
        mime_type: str,
        *,
        upload_descriptor: AttachmentUploadDescriptor | None = None,
    ) -> Attachment:
        """The attachment record for a stored file."""
        ...

    def generate_attachment_id(self, mime_type: str, context: Any) -> str:
        """A fresh attachment id."""
        ...

    async def save_stream(
        self,
        attachment_id: str,
        name: str,
        declared_mime_type: str | None,
        chunks: AsyncIterable[bytes],
        context: Any,
        *,
        announced: bool,
    ) -> SavedFile:
        """Store an upload read from `chunks`, checking its size and sniffing its type."""
        ...

    async def open_stream(self, attachment_id: str, context: Any | None) -> FileStream | None:
        """The stored file, or None; a None `context` means the caller holds a valid file token."""
        ...


class PostgresAttachmentStore(AttachmentStore[TContext], Generic[TContext]):
    """Keeps attachment bytes in PostgreSQL, behind the same signed URLs and checks as `LocalAttachmentStore`.

    Give a `dsn` (the store owns its pool) or an open `pool` of your own (the store leaves it
    open). Files are scoped to a tenant as `PostgresStore` scopes rows (`scope=`, by default the
    context's `user_id`; `single_tenant=True` for one owner). Pass every process the same
    `secret`, so that an URL one process signed is honoured by all.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        pool: AsyncConnectionPool[Any] | None = None,
        schema: str = "chatkit",
        secret: str | bytes | None = None,
        base_url: str | None = None,
        max_bytes: int = 10 * 1024 * 1024,
        allowed_mime_types: Collection[str] = DEFAULT_ALLOWED_MIME_TYPES,
        upload_ttl: float = 900.0,
        preview_ttl: float | None = None,
        scope: ScopeFunction = default_scope,
        single_tenant: bool = False,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        stale_upload_after: float = 300.0,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 10.0,
    ) -> None:
        try:
            import psycopg  # noqa: F401
            import psycopg_pool  # noqa: F401
        except ImportError as exc:
            raise ImportError(_INSTALL_HINT) from exc
        if dsn is not None and pool is not None:
            raise ValueError("Give PostgresAttachmentStore a dsn or a pool, not both")
        if not _SCHEMA_NAME.fullmatch(schema):
            raise ValueError(f"Schema name {schema!r} must be a plain SQL identifier (letters, digits, underscores)")
        if chunk_size < _SNIFF_BYTES:
            raise ValueError(f"chunk_size must be at least {_SNIFF_BYTES} bytes")
        if isinstance(secret, str):
            secret = secret.encode()
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        self.schema = schema
        self.base_url = base_url.rstrip("/") if base_url is not None else None
        self.max_bytes = max_bytes
        self.allowed_mime_types = tuple(_base_mime(pattern) for pattern in allowed_mime_types)
        self.upload_ttl = upload_ttl
        self.preview_ttl = preview_ttl
        self.chunk_size = chunk_size
        self.stale_upload_after = stale_upload_after
        self._scope_function = scope
        self._single_tenant = single_tenant
        self._dsn = dsn
        self._given_pool = pool
        self._min_size = min_size
        self._max_size = max_size
        self._timeout = timeout
        self._pool: AsyncConnectionPool[Any] | None = None
        self._opened = False
        self._open_lock = asyncio.Lock()
        # Validated above, so quoting cannot be escaped; quoted, the name keeps its case.
        self._quoted_schema = f'"{schema}"'
        self._sql = {name: query.format(s=self._quoted_schema).encode() for name, query in _QUERIES.items()}

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, create or migrate the tables, and clear uploads abandoned by dead processes."""
        async with self._open_lock:
            if not self._opened:
                await self._open()

    async def _open(self) -> None:
        from psycopg_pool import AsyncConnectionPool, PoolTimeout

        pool = self._given_pool
        if pool is None:
            pool = AsyncConnectionPool(
                self._dsn or "",
                kwargs={"autocommit": True, "connect_timeout": max(2, math.ceil(self._timeout))},
                min_size=self._min_size,
                max_size=self._max_size,
                timeout=self._timeout,
                open=False,
                name=f"chatkit-{self.schema}-attachments",
            )
            try:
                await pool.open(wait=True, timeout=self._timeout)
            except PoolTimeout as exc:
                await pool.close()
                raise StoreUnavailableError(f"PostgreSQL did not answer within {self._timeout} s: {exc}") from exc
        self._pool = pool
        try:
            await self._run(self._migrate, transaction=True)
            await self.purge_abandoned_uploads()
        except BaseException:
            await self._release_pool()
            raise
        self._opened = True

    async def aclose(self) -> None:
        """Release the pool (unless it was given); a later use opens the store again."""
        async with self._open_lock:
            self._opened = False
            await self._release_pool()

    async def __aenter__(self) -> PostgresAttachmentStore[TContext]:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _release_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None and pool is not self._given_pool:
            await pool.close()

    async def _migrate(self, conn: AsyncConnection[Any]) -> None:
        s = self._quoted_schema
        # Several processes starting at once take turns; the later ones find the tables current.
        await conn.execute(b"SELECT pg_advisory_xact_lock(%s)", (_lock_id(f"chatkit-attachments\0{self.schema}"),))
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}".encode())
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {s}.attachment_schema_version (version integer NOT NULL)".encode()
        )
        row = await (await conn.execute(f"SELECT version FROM {s}.attachment_schema_version".encode())).fetchone()
        version = 0 if row is None else int(row[0])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"The attachment tables in schema {self.schema!r} are at version {version}, newer than this "
                f"chatkit supports ({SCHEMA_VERSION}); upgrade chatkit-server."
            )
        for statements in MIGRATIONS[version:]:
            for statement in statements:
                await conn.execute(statement.format(s=s).encode())
        if row is None:
            await conn.execute(
                f"INSERT INTO {s}.attachment_schema_version (version) VALUES (%s)".encode(), (SCHEMA_VERSION,)
            )
        else:
            await conn.execute(f"UPDATE {s}.attachment_schema_version SET version = %s".encode(), (SCHEMA_VERSION,))

    async def schema_version(self) -> int:
        """The version of the attachment tables recorded in the database."""

        async def work(conn: AsyncConnection[Any]) -> int:
            query = f"SELECT version FROM {self._quoted_schema}.attachment_schema_version".encode()
            row = await (await conn.execute(query)).fetchone()
            assert row is not None
            return int(row[0])

        return await self._use(work)

    async def purge_abandoned_uploads(self) -> None:
        """Drop the bytes of uploads idle for `stale_upload_after` seconds (their process died).

        An announced file goes back to waiting for its upload; a direct upload's row goes too.
        Opening the store does this, so a restarted process cleans up after its predecessor.
        """

        async def work(conn: AsyncConnection[Any]) -> None:
            await conn.execute(self._sql["purge_direct"], (self.stale_upload_after,))
            await conn.execute(self._sql["purge_announced"], (self.stale_upload_after,))

        await self._run(work)

    # -- running work on a pooled connection -------------------------------------------------

    async def _use(self, work: Callable[[AsyncConnection[Any]], Awaitable[T]], *, transaction: bool = False) -> T:
        if not self._opened:
            await self.open()
        return await self._run(work, transaction=transaction)

    async def _run(self, work: Callable[[AsyncConnection[Any]], Awaitable[T]], *, transaction: bool = False) -> T:
        import psycopg
        from psycopg_pool import PoolTimeout

        pool = self._pool
        if pool is None:
            raise StoreError("The PostgreSQL attachment store was closed while an operation was starting")
        # A connection the server dropped fails on first use: the work is retried on another
        # connection (every statement here can run twice with the same outcome).
        attempts = (pool.max_size or self._max_size) + 1
        for attempt in range(1, attempts + 1):
            try:
                async with pool.connection(timeout=self._timeout) as conn:
                    try:
                        if transaction or not conn.autocommit:
                            async with conn.transaction():
                                return await work(conn)
                        return await work(conn)
                    except psycopg.OperationalError as exc:
                        if not conn.broken or attempt == attempts:
                            raise StoreUnavailableError(f"PostgreSQL operation failed: {exc}") from exc
            except PoolTimeout as exc:
                raise StoreUnavailableError(
                    f"No PostgreSQL connection within {self._timeout} s (is the server up?): {exc}"
                ) from exc
        raise StoreUnavailableError("PostgreSQL connections kept failing")

    async def _execute(self, query: str, params: tuple[Any, ...]) -> int:
        """Run one statement; the number of rows it touched."""

        async def work(conn: AsyncConnection[Any]) -> int:
            return (await conn.execute(self._sql[query], params)).rowcount

        return await self._use(work)

    async def _fetch(self, query: str, params: tuple[Any, ...]) -> list[Any]:
        async def work(conn: AsyncConnection[Any]) -> list[Any]:
            return await (await conn.execute(self._sql[query], params, binary=True)).fetchall()

        return await self._use(work)

    def _scope(self, context: Any) -> str:
        return resolve_scope(self._scope_function, self._single_tenant, context)

    # -- the AttachmentStore interface -------------------------------------------------------

    def generate_attachment_id(self, mime_type: str, context: TContext) -> str:
        """A fresh attachment id with 128 random bits: it names the file in URLs, so it must not be guessed."""
        return f"atc_{secrets.token_hex(16)}"

    async def create_attachment(self, input: AttachmentCreateParams, context: TContext) -> Attachment:
        """Check the announced file, record it as awaiting its bytes, and answer a signed upload URL."""
        mime_type = _base_mime(input.mime_type)
        self.check_mime_type(mime_type)
        if input.size < 0:
            raise AttachmentRejectedError(f"{input.name} announces a negative size", status_code=400)
        if input.size > self.max_bytes:
            raise AttachmentRejectedError(
                f"{input.name} is {input.size} bytes; the limit is {self.max_bytes}", status_code=413
            )
        attachment_id = self.generate_attachment_id(mime_type, context)
        row = (self._scope(context), _key(attachment_id), attachment_id, input.name, mime_type)
        if not await self._execute("announce", row):
            raise StoreError(f"attachment id {attachment_id!r} is taken; generate_attachment_id must not repeat")
        descriptor = AttachmentUploadDescriptor.model_validate(
            {"url": self.signed_url("upload", attachment_id, self.upload_ttl), "method": "PUT"}
        )
        return self.describe(attachment_id, input.name, mime_type, upload_descriptor=descriptor)

    async def delete_attachment(self, attachment_id: str, context: TContext) -> None:
        """Delete the file and its bytes, and stop an upload of it still in flight."""
        await self._execute("delete", (self._scope(context), _key(attachment_id)))

    # -- uploads -----------------------------------------------------------------------------

    async def save_stream(
        self,
        attachment_id: str,
        name: str,
        declared_mime_type: str | None,
        chunks: AsyncIterable[bytes],
        context: Any,
        *,
        announced: bool,
    ) -> SavedFile:
        """Store an upload read from `chunks`, one slice at a time.

        `announced` uploads complete a file of `create_attachment` and spend its upload token
        (a second upload is refused with 409, a deleted file is `NotFoundError`); others create
        the file. The first bytes are sniffed against `declared_mime_type` and the size is
        checked as it grows (`AttachmentRejectedError`, 415 or 413). A failed upload stores
        nothing and leaves an announced file ready for another try.
        """
        if not is_valid_attachment_id(attachment_id):
            raise NotFoundError(f"no attachment {attachment_id!r}")
        scope, key = self._scope(context), _key(attachment_id)
        if announced:
            attempt = await self._claim(scope, key, attachment_id)
        else:
            row = (scope, key, attachment_id, name, _base_mime(declared_mime_type or "application/octet-stream"))
            if not await self._execute("begin_direct", row):
                raise StoreError(f"attachment id {attachment_id!r} is taken; generate_attachment_id must not repeat")
            attempt = 1
        try:
            mime_type, size, count = await self._write_chunks(scope, key, attempt, declared_mime_type, chunks)

            async def finish(conn: AsyncConnection[Any]) -> int:
                cursor = await conn.execute(self._sql["finish"], (mime_type, size, count, scope, key, attempt))
                if cursor.rowcount:
                    await conn.execute(self._sql["drop_other_attempts"], (scope, key, attempt))
                return cursor.rowcount

            if not await self._use(finish, transaction=True):
                raise NotFoundError(f"attachment {attachment_id} was deleted during its upload")
        except BaseException:
            await self._abandon(scope, key, attempt, announced)
            raise
        return SavedFile(attachment_id, name, mime_type, size)

    async def _claim(self, scope: str, key: bytes, attachment_id: str) -> int:
        rows = await self._fetch("claim", (scope, key, self.stale_upload_after))
        if rows:
            return int(rows[0][0])
        state = await self._fetch("state", (scope, key))
        if not state:
            raise NotFoundError(f"no attachment {attachment_id!r}")
        if state[0][0] == "ready":
            raise AttachmentRejectedError(f"attachment {attachment_id} was uploaded already", status_code=409)
        raise AttachmentRejectedError(f"attachment {attachment_id} is being uploaded", status_code=409)

    async def _write_chunks(
        self, scope: str, key: bytes, attempt: int, declared_mime_type: str | None, chunks: AsyncIterable[bytes]
    ) -> tuple[str, int, int]:
        """Write the slices of an upload; its checked type, its size and the number of slices."""
        pending = bytearray()
        mime_type: str | None = None
        size = seq = 0
        async for piece in chunks:
            size += len(piece)
            if size > self.max_bytes:
                raise AttachmentRejectedError(f"the file exceeds the limit of {self.max_bytes} bytes", status_code=413)
            pending += piece
            if mime_type is None and len(pending) >= _SNIFF_BYTES:
                mime_type = self.verify_content(declared_mime_type, bytes(pending[:_SNIFF_BYTES]))
            while len(pending) >= self.chunk_size:
                await self._write_chunk(scope, key, attempt, seq, bytes(pending[: self.chunk_size]))
                del pending[: self.chunk_size]
                seq += 1
        if mime_type is None:
            mime_type = self.verify_content(declared_mime_type, bytes(pending))
        if pending or seq == 0:
            await self._write_chunk(scope, key, attempt, seq, bytes(pending))
            seq += 1
        return mime_type, size, seq

    async def _write_chunk(self, scope: str, key: bytes, attempt: int, seq: int, data: bytes) -> None:
        if not await self._execute("write_chunk", (scope, key, attempt, attempt, seq, data)):
            raise NotFoundError("the attachment was deleted during its upload")

    async def _abandon(self, scope: str, key: bytes, attempt: int, announced: bool) -> None:
        """Undo a failed upload: its slices go, an announced file waits for another try."""

        async def work(conn: AsyncConnection[Any]) -> None:
            if announced:
                await conn.execute(self._sql["release_claim"], (scope, key, attempt))
                await conn.execute(self._sql["drop_attempt"], (scope, key, attempt))
            else:
                await conn.execute(self._sql["drop_direct"], (scope, key, attempt))

        await self._use(work, transaction=True)

    # -- downloads ---------------------------------------------------------------------------

    async def open_stream(self, attachment_id: str, context: Any | None) -> FileStream | None:
        """The uploaded file of `context`'s tenant, or None if there is none.

        Pass `context=None` only once the caller has shown a valid `file` token (a preview URL):
        the file is then found by id alone, if exactly one tenant has that id.
        """
        if not is_valid_attachment_id(attachment_id):
            return None
        key = _key(attachment_id)
        if context is None:
            rows = await self._fetch("open_any", (key,))
        else:
            rows = await self._fetch("open_scoped", (self._scope(context), key))
        if len(rows) != 1:
            return None
        scope, name, mime_type, size, count, attempt = rows[0]

        async def read() -> AsyncIterator[bytes]:
            for seq in range(count):
                found = await self._fetch("read_chunk", (scope, key, attempt, seq))
                if not found:
                    raise NotFoundError(f"attachment {attachment_id} was deleted while it was being read")
                yield bytes(found[0][0])

        return FileStream(name, mime_type, int(size), read)

    # -- checks and signed URLs, as LocalAttachmentStore does them ----------------------------

    def describe(
        self,
        attachment_id: str,
        name: str,
        mime_type: str,
        *,
        upload_descriptor: AttachmentUploadDescriptor | None = None,
    ) -> Attachment:
        """The attachment record for a file: an image (with a signed preview URL) or a plain file."""
        if mime_type.startswith("image/"):
            return ImageAttachment.model_validate(
                {
                    "id": attachment_id,
                    "name": name,
                    "mime_type": mime_type,
                    "upload_descriptor": upload_descriptor,
                    "preview_url": self.signed_url("file", attachment_id, self.preview_ttl),
                }
            )
        return FileAttachment(id=attachment_id, name=name, mime_type=mime_type, upload_descriptor=upload_descriptor)

    def check_mime_type(self, mime_type: str) -> None:
        """Raise `AttachmentRejectedError` (415) unless `mime_type` is accepted."""
        mime_type = _base_mime(mime_type)
        for pattern in self.allowed_mime_types:
            if pattern == mime_type or (pattern.endswith("/*") and mime_type.startswith(pattern[:-1])):
                return
        raise AttachmentRejectedError(f"files of type {mime_type} are not accepted", status_code=415)

    def verify_content(self, declared_mime_type: str | None, head: bytes) -> str:
        """The type to record for content starting with `head`, checked against what the client declared."""
        sniffed = sniff_mime_type(head[:_SNIFF_BYTES])
        declared = _base_mime(declared_mime_type) if declared_mime_type else ""
        if declared and declared != "application/octet-stream":
            if not _content_matches(declared, sniffed):
                raise AttachmentRejectedError(
                    f"the content is not {declared} (it looks like {sniffed})", status_code=415
                )
            mime_type = declared
        else:
            mime_type = sniffed
        self.check_mime_type(mime_type)
        return mime_type

    def signed_url(self, purpose: TokenPurpose, attachment_id: str, ttl: float | None) -> str:
        """An absolute URL for uploading (`upload`) or fetching (`file`) an attachment, carrying a token."""
        base = self.base_url or request_base_url.get()
        if base is None:
            raise RuntimeError("PostgresAttachmentStore needs base_url= when used outside an HTTP request")
        segment = "uploads" if purpose == "upload" else "files"
        return f"{base}/{segment}/{attachment_id}?token={self.sign(purpose, attachment_id, ttl)}"

    def sign(self, purpose: TokenPurpose, attachment_id: str, ttl: float | None) -> str:
        """A token granting `purpose` on `attachment_id`, valid for `ttl` seconds (None: no expiry)."""
        expires = 0 if ttl is None else int(time.time() + ttl)
        return f"{expires}.{self._mac(purpose, attachment_id, expires)}"

    def verify(self, purpose: TokenPurpose, attachment_id: str, token: str) -> bool:
        """Whether `token` grants `purpose` on `attachment_id` and has not expired."""
        expires_text, _, mac = token.partition(".")
        if not expires_text.isdigit() or len(expires_text) > 12:
            return False
        expires = int(expires_text)
        if expires and expires < time.time():
            return False
        return hmac.compare_digest(mac, self._mac(purpose, attachment_id, expires))

    def _mac(self, purpose: str, attachment_id: str, expires: int) -> str:
        digest = hmac.new(self._secret, f"{purpose}\n{attachment_id}\n{expires}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
