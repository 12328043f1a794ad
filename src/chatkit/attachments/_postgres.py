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
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Collection
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from chatkit._mime import SNIFF_BYTES, base_mime
from chatkit.attachments._checks import (
    DEFAULT_ALLOWED_MIME_TYPES,
    DEFAULT_PREVIEW_TTL,
    AttachmentRejectedError,
    is_valid_attachment_id,
    safe_file_name,
)
from chatkit.attachments._signing import SignedAttachmentStore
from chatkit.attachments._streams import FileStream, SavedFile
from chatkit.store import NotFoundError, TContext
from chatkit.stores._database import PostgresDatabase, database_for
from chatkit.stores._errors import IdConflictError
from chatkit.stores._pg import quoted_schema
from chatkit.stores._scope import ScopeFunction, default_scope
from chatkit.types import Attachment, AttachmentCreateParams, AttachmentUploadDescriptor

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

T = TypeVar("T")

# With 96 random bits a clash is a broken generator; a few retries keep a tiny id space usable.
_RESERVE_ATTEMPTS = 8

DEFAULT_CHUNK_SIZE = 256 * 1024
"""Bytes per stored slice: a 20 MB file is 80 statements, and a slice is little to hold."""

# Own tables and own version counter, so the attachment store shares a schema with
# `PostgresStore` (the default, "chatkit") without either migrating the other's tables.
# Attachment ids are checked safe and short (`is_valid_attachment_id`), so they key rows as they are.
MIGRATIONS: list[list[str]] = [
    [
        """CREATE TABLE {s}.attachment_files (
            scope_key text NOT NULL,
            id text NOT NULL,
            name text NOT NULL,
            mime_type text NOT NULL,
            announced boolean NOT NULL,
            state text NOT NULL CHECK (state IN ('pending', 'uploading', 'ready')),
            attempt bigint NOT NULL DEFAULT 0,
            size bigint NOT NULL DEFAULT 0,
            chunks integer NOT NULL DEFAULT 0,
            touched_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (scope_key, id)
        )""",
        "CREATE INDEX attachment_files_uploading ON {s}.attachment_files (touched_at) WHERE state = 'uploading'",
        """CREATE TABLE {s}.attachment_chunks (
            scope_key text NOT NULL,
            id text NOT NULL,
            attempt bigint NOT NULL,
            seq integer NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (scope_key, id, attempt, seq),
            FOREIGN KEY (scope_key, id) REFERENCES {s}.attachment_files (scope_key, id) ON DELETE CASCADE
        )""",
        # Most uploads (images, PDFs) are compressed already: compressing again only costs CPU.
        "ALTER TABLE {s}.attachment_chunks ALTER COLUMN data SET STORAGE EXTERNAL",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)

_STALE = "touched_at < now() - make_interval(secs => %s)"
_QUERIES = {
    "announce": """INSERT INTO {s}.attachment_files (scope_key, id, name, mime_type, announced, state)
        VALUES (%s, %s, %s, %s, true, 'pending') ON CONFLICT DO NOTHING""",
    "begin_direct": """INSERT INTO {s}.attachment_files (scope_key, id, name, mime_type, announced, state, attempt)
        VALUES (%s, %s, %s, %s, false, 'uploading', 1) ON CONFLICT DO NOTHING""",
    # The single use of an upload token: one row update, which exactly one caller wins. A claim
    # left behind by a process that died mid-upload may be taken over once it is stale.
    "claim": f"""UPDATE {{s}}.attachment_files SET state = 'uploading', attempt = attempt + 1, touched_at = now()
        WHERE scope_key = %s AND id = %s AND announced
        AND (state = 'pending' OR (state = 'uploading' AND {_STALE})) RETURNING attempt""",
    "state": "SELECT state FROM {s}.attachment_files WHERE scope_key = %s AND id = %s",
    # A slice is written only while its upload's claim is live: a delete or a takeover stops it.
    "write_chunk": """WITH live AS (
            UPDATE {s}.attachment_files SET touched_at = now()
            WHERE scope_key = %s AND id = %s AND attempt = %s AND state = 'uploading' RETURNING scope_key, id
        )
        INSERT INTO {s}.attachment_chunks (scope_key, id, attempt, seq, data)
        SELECT scope_key, id, %s, %s, %s FROM live
        ON CONFLICT (scope_key, id, attempt, seq) DO UPDATE SET data = excluded.data""",
    "finish": """UPDATE {s}.attachment_files SET state = 'ready', mime_type = %s, size = %s, chunks = %s,
        touched_at = now() WHERE scope_key = %s AND id = %s AND attempt = %s AND state = 'uploading'""",
    "drop_other_attempts": "DELETE FROM {s}.attachment_chunks WHERE scope_key = %s AND id = %s AND attempt <> %s",
    "release_claim": """UPDATE {s}.attachment_files SET state = 'pending', touched_at = now()
        WHERE scope_key = %s AND id = %s AND attempt = %s AND state = 'uploading' AND announced""",
    # Never the slices of a finished file: a finishing commit whose answer was lost looks failed.
    "drop_attempt": """DELETE FROM {s}.attachment_chunks AS c WHERE scope_key = %s AND id = %s AND attempt = %s
        AND NOT EXISTS (SELECT 1 FROM {s}.attachment_files AS f
            WHERE f.scope_key = c.scope_key AND f.id = c.id AND f.attempt = c.attempt AND f.state = 'ready')""",
    "drop_direct": """DELETE FROM {s}.attachment_files
        WHERE scope_key = %s AND id = %s AND attempt = %s AND state = 'uploading' AND NOT announced""",
    "open": """SELECT name, mime_type, size, chunks, attempt FROM {s}.attachment_files
        WHERE scope_key = %s AND id = %s AND state = 'ready'""",
    "read_chunk": """SELECT data FROM {s}.attachment_chunks
        WHERE scope_key = %s AND id = %s AND attempt = %s AND seq = %s""",
    # A copied file takes its row whatever state an earlier, interrupted copy left it in; never a ready one.
    "import": """INSERT INTO {s}.attachment_files AS f (scope_key, id, name, mime_type, announced, state, attempt)
        VALUES (%s, %s, %s, %s, false, 'uploading', 1)
        ON CONFLICT (scope_key, id) DO UPDATE SET state = 'uploading', attempt = f.attempt + 1,
            name = excluded.name, mime_type = excluded.mime_type, touched_at = now()
        WHERE f.state <> 'ready' RETURNING attempt""",
    "delete": "DELETE FROM {s}.attachment_files WHERE scope_key = %s AND id = %s",
    "delete_tenant": "DELETE FROM {s}.attachment_files WHERE scope_key = %s",
    "purge_direct": f"""DELETE FROM {{s}}.attachment_files
        WHERE state = 'uploading' AND NOT announced AND {_STALE}""",
    "purge_announced": f"""WITH stale AS (
            UPDATE {{s}}.attachment_files SET state = 'pending', touched_at = now()
            WHERE state = 'uploading' AND announced AND {_STALE} RETURNING scope_key, id
        )
        DELETE FROM {{s}}.attachment_chunks AS c USING stale WHERE c.scope_key = stale.scope_key AND c.id = stale.id""",
}


class PostgresAttachmentStore(SignedAttachmentStore[TContext], Generic[TContext]):
    """Keeps attachment bytes in PostgreSQL, behind the same checks and signed URLs as `LocalAttachmentStore`.

    Give a `dsn` (the store opens a `PostgresDatabase` of its own), an open `pool` of your own (left
    open), or the `database` the process's `PostgresStore` runs on, to share its connections.
    Files are split by tenant as `PostgresStore` splits rows (`scope=`, by default the context's
    `user_id`; `single_tenant=True` for one owner). Give every process the same
    `secret`, so that a URL signed by one process is honoured by all.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        pool: AsyncConnectionPool[Any] | None = None,
        database: PostgresDatabase | None = None,
        schema: str | None = None,
        secret: str | bytes | None = None,
        base_url: str | None = None,
        max_bytes: int = 10 * 1024 * 1024,
        allowed_mime_types: Collection[str] = DEFAULT_ALLOWED_MIME_TYPES,
        upload_ttl: float = 900.0,
        preview_ttl: float | None = DEFAULT_PREVIEW_TTL,
        scope: ScopeFunction = default_scope,
        single_tenant: bool = False,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        stale_upload_after: float = 300.0,
        min_size: int = 1,
        max_size: int = 10,
        timeout: float = 10.0,
    ) -> None:
        if chunk_size < SNIFF_BYTES:
            raise ValueError(f"chunk_size must be at least {SNIFF_BYTES} bytes")
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
        self.database = database_for(
            "PostgresAttachmentStore",
            dsn,
            pool,
            database,
            schema,
            min_size=min_size,
            max_size=max_size,
            timeout=timeout,
        )
        self.schema = self.database.schema
        self.chunk_size = chunk_size
        self.stale_upload_after = stale_upload_after
        self._opened = False
        self._open_lock = asyncio.Lock()
        quoted = quoted_schema(self.schema)
        self._sql = {name: query.format(s=quoted).encode() for name, query in _QUERIES.items()}

    # -- lifecycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, create or migrate the tables, and clear uploads abandoned by dead processes."""
        async with self._open_lock:
            if not self._opened:
                await self._open()

    async def _open(self) -> None:
        await self.database.open()
        try:
            await self.database.migrate(
                version_table="attachment_schema_version",
                migrations=MIGRATIONS,
                lock_name="chatkit-attachments",
                tables=f"The attachment tables in schema {self.schema!r} are",
            )
            await self.purge_abandoned_uploads()
        except BaseException:
            await self.database.aclose()
            raise
        self._opened = True

    async def aclose(self) -> None:
        """Release this store's hold on the database; a later use opens the store again."""
        async with self._open_lock:
            if self._opened:
                self._opened = False
                await self.database.aclose()

    async def __aenter__(self) -> PostgresAttachmentStore[TContext]:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def schema_version(self) -> int:
        """The version of the attachment tables recorded in the database."""
        if not self._opened:
            await self.open()
        version = await self.database.version("attachment_schema_version")
        assert version is not None
        return version

    async def purge_abandoned_uploads(self) -> None:
        """Drop the bytes of uploads idle for `stale_upload_after` seconds (their process died).

        An announced file goes back to waiting for its upload; a direct upload's row goes too.
        Opening the store does this, so a restarted process cleans up after its predecessor.
        """

        async def work(conn: AsyncConnection[Any]) -> None:
            await conn.execute(self._sql["purge_direct"], (self.stale_upload_after,))
            await conn.execute(self._sql["purge_announced"], (self.stale_upload_after,))

        await self._run(work)

    async def ping(self) -> None:
        """Raise unless the store's database answers a trivial query (opening the store first if needed)."""
        if not self._opened:
            await self.open()
        await self.database.ping()

    # -- running work on a pooled connection -------------------------------------------------

    async def _use(
        self, work: Callable[[AsyncConnection[Any]], Awaitable[T]], *, transaction: bool = False, retry: bool = True
    ) -> T:
        if not self._opened:
            await self.open()
        return await self._run(work, transaction=transaction, retry=retry)

    async def _run(
        self, work: Callable[[AsyncConnection[Any]], Awaitable[T]], *, transaction: bool = False, retry: bool = True
    ) -> T:
        # A connection the server dropped (restart, pg_terminate_backend) fails on first use: the
        # work is retried on another connection, unless running it twice could change its outcome
        # (`retry=False`: a claim or a finish whose commit happened but whose answer was lost).
        return await self.database.run(work, transaction=transaction, retry=retry, classify=False)

    async def _execute(self, query: str, params: tuple[Any, ...]) -> int:
        """Run one statement; the number of rows it touched."""

        async def work(conn: AsyncConnection[Any]) -> int:
            return (await conn.execute(self._sql[query], params)).rowcount

        return await self._use(work)

    async def _fetch(self, query: str, params: tuple[Any, ...], *, retry: bool = True) -> list[Any]:
        async def work(conn: AsyncConnection[Any]) -> list[Any]:
            return await (await conn.execute(self._sql[query], params, binary=True)).fetchall()

        return await self._use(work, retry=retry)

    # -- the AttachmentStore interface -------------------------------------------------------

    async def create_attachment_at(
        self, input: AttachmentCreateParams, context: TContext, base_url: str | None
    ) -> Attachment:
        """Check the announced file, record it as awaiting its bytes, and answer a signed, single-use upload URL."""
        mime_type = base_mime(input.mime_type)
        name = safe_file_name(input.name)
        self.check_size(input.size, name)
        self.check_mime_type(mime_type)
        scope_key = self.scope_key(context)
        attachment_id = await self._reserve_new_id("announce", mime_type, context, scope_key, name)
        descriptor = AttachmentUploadDescriptor.model_validate(
            {"url": self.signed_url("upload", attachment_id, self.upload_ttl, scope_key, base_url), "method": "PUT"}
        )
        return self.describe(attachment_id, name, mime_type, scope_key, upload_descriptor=descriptor, base_url=base_url)

    async def delete_attachment(self, attachment_id: str, context: TContext) -> None:
        """Delete the file and its bytes, and stop an upload of it still in flight; another tenant's stay."""
        await self.delete_file(attachment_id, self.scope_key(context))

    async def delete_file(self, attachment_id: str, scope_key: str) -> None:
        """Delete one file of the tenant `scope_key` and its bytes, if there is one."""
        await self._execute("delete", (scope_key, attachment_id))

    async def delete_tenant_files(self, scope_key: str) -> int:
        """Delete every file of the tenant `scope_key`, uploads in flight included; how many there were."""
        return await self._execute("delete_tenant", (scope_key,))

    # -- uploads -----------------------------------------------------------------------------

    async def save_upload(
        self,
        attachment_id: str,
        name: str,
        declared_mime_type: str | None,
        chunks: AsyncIterable[bytes],
        scope_key: str,
    ) -> SavedFile:
        """Store the single upload of an attachment of `create_attachment`, one slice at a time.

        `AttachmentRejectedError`: uploaded already or being uploaded (409), too large (413, as
        soon as it grows past the limit), not the declared or an accepted type (415, from its
        first bytes). `NotFoundError`: no such attachment, or deleted before the upload ended.
        A failed upload stores nothing and leaves the attachment ready for another try.
        """
        if not is_valid_attachment_id(attachment_id):
            raise NotFoundError(f"attachment {attachment_id} not found")
        rows = await self._fetch("claim", (scope_key, attachment_id, self.stale_upload_after), retry=False)
        if not rows:
            state = await self._fetch("state", (scope_key, attachment_id))
            if not state:
                raise NotFoundError(f"attachment {attachment_id} not found")
            if state[0][0] == "ready":
                raise AttachmentRejectedError(f"attachment {attachment_id} was uploaded already", status_code=409)
            raise AttachmentRejectedError(f"attachment {attachment_id} is being uploaded", status_code=409)
        return await self._receive(scope_key, attachment_id, int(rows[0][0]), name, declared_mime_type, chunks)

    async def add_upload(
        self,
        filename: str | None,
        declared_mime_type: str | None,
        chunks: AsyncIterable[bytes],
        context: Any,
        base_url: str | None = None,
    ) -> Attachment:
        """Store a file under a fresh id of the caller's tenant (a direct upload); the record to save.

        An image's preview URL hangs below `base_url` unless one is configured.
        """
        name = safe_file_name(filename)
        scope_key = self.scope_key(context)
        declared = base_mime(declared_mime_type or "application/octet-stream")
        attachment_id = await self._reserve_new_id("begin_direct", declared, context, scope_key, name)
        saved = await self._receive(scope_key, attachment_id, 1, name, declared_mime_type, chunks)
        return self.describe(attachment_id, name, saved.mime_type, scope_key, base_url=base_url)

    async def is_reserved(self, attachment_id: str, scope_key: str) -> bool:
        """Whether the attachment still exists (announced or uploaded, and not deleted since)."""
        return bool(await self._fetch("state", (scope_key, attachment_id)))

    async def _reserve_new_id(self, query: str, mime_type: str, context: Any, scope_key: str, name: str) -> str:
        """A fresh id whose row this call inserted: no two attachments of a tenant share one."""
        for _ in range(_RESERVE_ATTEMPTS):
            attachment_id = self.generate_attachment_id(mime_type, context)
            if is_valid_attachment_id(attachment_id) and await self._execute(
                query, (scope_key, attachment_id, name, mime_type)
            ):
                return attachment_id
        raise IdConflictError(f"no free attachment id after {_RESERVE_ATTEMPTS} tries")

    async def _receive(
        self,
        scope_key: str,
        attachment_id: str,
        attempt: int,
        name: str,
        declared_mime_type: str | None,
        chunks: AsyncIterable[bytes],
    ) -> SavedFile:
        """Write the slices of a claimed upload and mark it ready, or undo it all."""
        try:
            mime_type, size, count = await self._write_chunks(
                scope_key, attachment_id, attempt, declared_mime_type, chunks
            )

            async def finish(conn: AsyncConnection[Any]) -> int:
                row = (mime_type, size, count, scope_key, attachment_id, attempt)
                cursor = await conn.execute(self._sql["finish"], row)
                if cursor.rowcount:
                    # Slices of an earlier attempt whose process died mid-upload.
                    await conn.execute(self._sql["drop_other_attempts"], (scope_key, attachment_id, attempt))
                return cursor.rowcount

            if not await self._use(finish, transaction=True, retry=False):
                raise NotFoundError(f"attachment {attachment_id} was deleted during its upload")
        except BaseException:
            await self._abandon(scope_key, attachment_id, attempt)
            raise
        return SavedFile(attachment_id, name, mime_type, size)

    async def _write_chunks(
        self,
        scope_key: str,
        attachment_id: str,
        attempt: int,
        declared_mime_type: str | None,
        chunks: AsyncIterable[bytes],
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
            if mime_type is None and len(pending) >= SNIFF_BYTES:
                mime_type = self.verify_content(declared_mime_type, bytes(pending[:SNIFF_BYTES]))
            while len(pending) >= self.chunk_size:
                await self._write_chunk(scope_key, attachment_id, attempt, seq, bytes(pending[: self.chunk_size]))
                del pending[: self.chunk_size]
                seq += 1
        if mime_type is None:
            mime_type = self.verify_content(declared_mime_type, bytes(pending))
        if pending or seq == 0:
            await self._write_chunk(scope_key, attachment_id, attempt, seq, bytes(pending))
            seq += 1
        return mime_type, size, seq

    async def _write_chunk(self, scope_key: str, attachment_id: str, attempt: int, seq: int, data: bytes) -> None:
        if not await self._execute("write_chunk", (scope_key, attachment_id, attempt, attempt, seq, data)):
            raise NotFoundError(f"attachment {attachment_id} was deleted during its upload")

    async def _abandon(self, scope_key: str, attachment_id: str, attempt: int) -> None:
        """Undo a failed upload: its slices go; an announced file waits for another try, a direct one goes."""

        async def work(conn: AsyncConnection[Any]) -> None:
            row = (scope_key, attachment_id, attempt)
            await conn.execute(self._sql["drop_direct"], row)
            await conn.execute(self._sql["release_claim"], row)
            await conn.execute(self._sql["drop_attempt"], row)

        await self._use(work, transaction=True)

    # -- downloads ---------------------------------------------------------------------------

    async def stream_file(self, attachment_id: str, scope_key: str) -> FileStream | None:
        """The uploaded file of an attachment of the tenant `scope_key`, read slice by slice, or None."""
        if not is_valid_attachment_id(attachment_id):
            return None
        rows = await self._fetch("open", (scope_key, attachment_id))
        if not rows:
            return None
        name, mime_type, size, count, attempt = rows[0]

        async def read() -> AsyncIterator[bytes]:
            for seq in range(count):
                found = await self._fetch("read_chunk", (scope_key, attachment_id, attempt, seq))
                if not found:
                    raise NotFoundError(f"attachment {attachment_id} was deleted while it was read")
                yield bytes(found[0][0])

        return FileStream(name, mime_type, int(size), read)

    # -- copying between stores --------------------------------------------------------------

    async def import_file(
        self, attachment_id: str, scope_key: str, name: str, mime_type: str, chunks: AsyncIterable[bytes]
    ) -> bool:
        """Put a file copied from another store at its own id and tenant key; False if one is there already.

        The bytes were checked when first uploaded, so neither size nor type is checked again; they
        are written a slice at a time as they arrive. A copy interrupted half-way is taken over.
        """
        if not is_valid_attachment_id(attachment_id):
            raise ValueError(f"invalid attachment id {attachment_id!r}")
        rows = await self._fetch("import", (scope_key, attachment_id, name, mime_type), retry=False)
        if not rows:
            return False
        attempt = int(rows[0][0])
        try:
            pending = bytearray()
            size = seq = 0
            async for piece in chunks:
                size += len(piece)
                pending += piece
                while len(pending) >= self.chunk_size:
                    await self._write_chunk(scope_key, attachment_id, attempt, seq, bytes(pending[: self.chunk_size]))
                    del pending[: self.chunk_size]
                    seq += 1
            if pending or seq == 0:
                await self._write_chunk(scope_key, attachment_id, attempt, seq, bytes(pending))
                seq += 1

            async def finish(conn: AsyncConnection[Any]) -> int:
                row = (mime_type, size, seq, scope_key, attachment_id, attempt)
                cursor = await conn.execute(self._sql["finish"], row)
                if cursor.rowcount:
                    await conn.execute(self._sql["drop_other_attempts"], (scope_key, attachment_id, attempt))
                return cursor.rowcount

            if not await self._use(finish, transaction=True, retry=False):
                raise NotFoundError(f"attachment {attachment_id} was deleted while it was copied")
        except BaseException:
            await self._abandon(scope_key, attachment_id, attempt)
            raise
        return True
