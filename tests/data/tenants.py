"""Two tenants' worth of data in a store and an attachment store, and what is left of one afterwards."""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from chatkit.attachments._local import LocalAttachmentStore
from chatkit.attachments._postgres import PostgresAttachmentStore
from chatkit.attachments._s3 import S3AttachmentStore
from chatkit.stores import MemoryStore, PostgresStore, ScopedStore, SQLiteStore
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    Attachment,
    AttachmentCreateParams,
    InferenceOptions,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)
from tests.attachments.backends import Files, stream
from tests.stores.backends import POSTGRES_DSN

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@dataclass
class Tenant:
    """What `fill` wrote for one user: thread ids, item counts, files by attachment id."""

    context: dict[str, str]
    threads: list[str] = field(default_factory=list[str])
    items: int = 0
    files: dict[str, bytes] = field(default_factory=dict[str, bytes])
    loose: list[str] = field(default_factory=list[str])


def now() -> datetime:
    return datetime.now(timezone.utc)


async def upload(files: Files, context: Any, name: str, mime_type: str, data: bytes) -> Attachment:
    """A two-phase upload: announce, then send the bytes; the record the client would hold."""
    announced = await files.store.create_attachment(
        AttachmentCreateParams(name=name, size=len(data), mime_type=mime_type), context
    )
    await files.streams.save_upload(announced.id, name, mime_type, stream([data]), files.streams.scope_key(context))
    return announced.model_copy(update={"upload_descriptor": None})


async def add_thread(store: ScopedStore, tenant: Tenant, title: str, attachments: list[Attachment]) -> str:
    """A thread with a user message (carrying `attachments`) and an answer."""
    thread = ThreadMetadata(id=store.generate_thread_id(tenant.context), title=title, created_at=now())
    await store.save_thread(thread, tenant.context)
    for attachment in attachments:
        attachment.thread_id = thread.id
        await store.save_attachment(attachment, tenant.context)
    user = UserMessageItem(
        id=store.generate_item_id("message", thread, tenant.context),
        thread_id=thread.id,
        created_at=now(),
        content=[UserMessageTextContent(text=f"hello from {title}")],
        attachments=attachments,
        inference_options=InferenceOptions(),
    )
    answer = AssistantMessageItem(
        id=store.generate_item_id("message", thread, tenant.context),
        thread_id=thread.id,
        created_at=now(),
        content=[AssistantMessageContent(text=f"an answer in {title}")],
    )
    for item in (user, answer):
        await store.add_thread_item(thread.id, item, tenant.context)
    tenant.threads.append(thread.id)
    tenant.items += 2
    return thread.id


async def fill(store: ScopedStore, files: Files, user: str) -> Tenant:
    """Two threads (one with an image and a text file), an upload never sent, and one announced only."""
    tenant = Tenant({"user_id": user})
    image = await upload(files, tenant.context, "photo.png", "image/png", PNG)
    notes = await upload(files, tenant.context, "notes.txt", "text/plain", f"notes of {user}\n".encode())
    tenant.files.update({image.id: PNG, notes.id: f"notes of {user}\n".encode()})
    await add_thread(store, tenant, f"{user}'s first", [image, notes])
    await add_thread(store, tenant, f"{user}'s second", [])
    # Uploaded and recorded, never sent in a message; announced and never uploaded (no record at all).
    draft = await upload(files, tenant.context, "draft.txt", "text/plain", b"a draft\n")
    await store.save_attachment(draft, tenant.context)
    tenant.files[draft.id] = b"a draft\n"
    tenant.loose.append(draft.id)
    await files.store.create_attachment(
        AttachmentCreateParams(name="never.txt", size=3, mime_type="text/plain"), tenant.context
    )
    return tenant


def scope_key(user: str) -> str:
    """The key the attachment stores file a default-scoped user under."""
    return hashlib.sha256(user.encode()).hexdigest()[:32]


async def rows_left(store: ScopedStore, user: str) -> int:
    """Rows of `user` in the store's tables, counted in the database itself (not through the store)."""
    if isinstance(store, SQLiteStore):
        with closing(sqlite3.connect(store.path)) as db:
            return sum(
                db.execute(f"SELECT count(*) FROM {table} WHERE scope = ?", (user,)).fetchone()[0]
                for table in ("chatkit_threads", "chatkit_items", "chatkit_attachments")
            )
    if isinstance(store, PostgresStore):
        import psycopg

        async with await psycopg.AsyncConnection.connect(POSTGRES_DSN) as conn:
            total = 0
            for table in ("threads", "items", "attachments"):
                cursor = await conn.execute(
                    f'SELECT count(*) FROM "{store.schema}".{table} WHERE scope = %s'.encode(), (user,)
                )
                row = await cursor.fetchone()
                total += row[0] if row else 0
            return total
    assert isinstance(store, MemoryStore)
    return int(user in await store.scopes())


async def files_left(files: Files, user: str) -> int:
    """Files, objects or file rows of `user` in the attachment store's own storage."""
    key = scope_key(user)
    store = files.store
    if isinstance(store, LocalAttachmentStore):
        folder = Path(store.root) / key
        return sum(1 for _ in folder.rglob("*")) if folder.exists() else 0
    if isinstance(store, PostgresAttachmentStore):
        import psycopg

        async with await psycopg.AsyncConnection.connect(POSTGRES_DSN) as conn:
            total = 0
            for table in ("attachment_files", "attachment_chunks"):
                query = f'SELECT count(*) FROM "{store.schema}".{table} WHERE scope_key = %s'
                row = await (await conn.execute(query.encode(), (key,))).fetchone()
                total += row[0] if row else 0
            return total
    assert isinstance(store, S3AttachmentStore)
    client = await store._s3()  # pyright: ignore[reportPrivateUsage]
    listing = await client.list_objects_v2(Bucket=store.bucket, Prefix=f"{store.prefix}{key}/")
    return listing.get("KeyCount", 0)
