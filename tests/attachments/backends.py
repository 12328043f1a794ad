"""Attachment stores to run the contract suite against, as the upload routes see them.

    @pytest.fixture(params=ATTACHMENT_BACKENDS) ...
    async with make_files(backend, tmp_path) as files:
        attachment = await files.store.create_attachment(params, context)
        await files.streams.save_upload(...)

Stores made again for the same `tmp_path` share their files, as processes of one deployment do:
`LocalAttachmentStore` on one directory, `PostgresAttachmentStore` on one schema (each with its
own pool). The PostgreSQL schema is dropped when the last of them closes. `S3AttachmentStore`
runs against moto's S3 server (one for the test session, over real HTTP on a free port), one
bucket per `tmp_path`.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatkit.attachments import LocalAttachmentStore, SignedAttachmentStore
from chatkit.attachments._postgres import PostgresAttachmentStore
from chatkit.attachments._s3 import S3AttachmentStore
from chatkit.attachments._streams import AttachmentFiles, streaming_files
from tests.stores.backends import PGBOUNCER_BACKEND, drop_postgres_schema, postgres_schema, require_postgres

ATTACHMENT_BACKENDS = ["local", "postgres", "s3"]
SECRET = "test-secret"
BASE_URL = "https://chat.example/chatkit"
MAX_BYTES = 64 * 1024
# Small slices, so that even the small files of the tests span several of them.
CHUNK_SIZE = 4096

_schema_users: dict[str, int] = {}
_moto: list[Any] = []


@dataclass
class Files:
    """An attachment store (`store`) and the streaming face the routes use (`streams`)."""

    store: SignedAttachmentStore[Any]
    streams: AttachmentFiles


async def stream(pieces: Sequence[bytes]) -> AsyncIterator[bytes]:
    """The pieces of a body as a request delivers them."""
    for piece in pieces:
        await asyncio.sleep(0)
        yield piece


async def read(files: Files, attachment_id: str, context: Any) -> bytes | None:
    """The bytes of the caller's file, or None."""
    opened = await files.streams.stream_file(attachment_id, files.streams.scope_key(context))
    return None if opened is None else b"".join([data async for data in opened])


def postgres_attachment_store(tmp_path: Path, dsn: str | None = None, **options: Any) -> PostgresAttachmentStore[Any]:
    """An unopened PostgreSQL attachment store in the schema of the test owning `tmp_path`
    (on the test server, or at `dsn`)."""
    settings: dict[str, Any] = {
        "schema": postgres_schema(tmp_path),
        "secret": SECRET,
        "base_url": BASE_URL,
        "max_bytes": MAX_BYTES,
        "chunk_size": CHUNK_SIZE,
        "max_size": 4,
        **options,
    }
    return PostgresAttachmentStore(dsn or require_postgres(), **settings)


def moto_endpoint() -> str:
    """The URL of the session's moto S3 server, started on a free port on first use."""
    if not _moto:
        from moto.server import ThreadedMotoServer

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        _moto.extend([server, f"http://127.0.0.1:{port}"])
    return _moto[1]


def stop_moto() -> None:
    """Stop the session's moto server, if one was started."""
    if _moto:
        _moto[0].stop()
        _moto.clear()


def s3_attachment_store(tmp_path: Path, **options: Any) -> S3AttachmentStore[Any]:
    """An S3 attachment store on the bucket of the test owning `tmp_path` (created on first use)."""
    settings: dict[str, Any] = {
        "endpoint_url": moto_endpoint(),
        "region_name": "us-east-1",
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
        "secret": SECRET,
        "base_url": BASE_URL,
        "max_bytes": MAX_BYTES,
        **options,
    }
    bucket = "t-" + hashlib.sha256(str(tmp_path).encode()).hexdigest()[:32]
    return S3AttachmentStore(bucket, **settings)


@asynccontextmanager
async def make_files(backend: str, tmp_path: Path, **options: Any) -> AsyncIterator[Files]:
    """A ready attachment store of `backend`, sharing its files with the others of `tmp_path`."""
    if backend == "local":
        settings = {"secret": SECRET, "base_url": BASE_URL, "max_bytes": MAX_BYTES, **options}
        local: LocalAttachmentStore[Any] = LocalAttachmentStore(tmp_path / "files", **settings)
        yield Files(local, streaming_files(local))
        return
    if backend == "s3":
        s3: S3AttachmentStore[Any] = s3_attachment_store(tmp_path, **options)
        async with s3:
            client = await s3._s3()  # pyright: ignore[reportPrivateUsage]
            with suppress(client.exceptions.BucketAlreadyOwnedByYou):
                await client.create_bucket(Bucket=s3.bucket)
            yield Files(s3, streaming_files(s3))
        return
    if backend == PGBOUNCER_BACKEND:
        from tests.deploy.pgbouncer import require_pgbouncer

        options = {"dsn": require_pgbouncer(), **options}
    elif backend != "postgres":
        raise ValueError(f"Unknown attachment backend {backend!r}")
    store = postgres_attachment_store(tmp_path, **options)
    _schema_users[store.schema] = _schema_users.get(store.schema, 0) + 1
    try:
        async with store:
            yield Files(store, streaming_files(store))
    finally:
        _schema_users[store.schema] -= 1
        if not _schema_users[store.schema]:
            del _schema_users[store.schema]
            await drop_postgres_schema(store.schema)
