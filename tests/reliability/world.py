"""A small multi-tenant world to attack: two users, each with threads in every state and a file.

`seed_world` builds it through `ChatKitServer.process`, as a client would; `Tenant.templates()`
gives one valid request of every type aimed at that tenant's rows, and the probes read every
row of the store (and every file) so a test can prove what a request did not change.
The probes read the tables directly, so a row written under an unexpected key is seen too.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatkit.attachments import LocalAttachmentStore
from chatkit.server import ChatKitServer, StreamingResult

Snapshot = dict[str, tuple[tuple[Any, ...], ...]]
"""Rows by scope (tenant), plus the files on disk under the key `"files"`."""

SnapshotFunction = Callable[[], Awaitable[Snapshot]]

TABLES = ("threads", "items", "attachments")

FILES_SCOPE = "files"
LABELS = ("chat", "tool", "ask", "widget", "spare1", "spare2")


def user_input(text: str, attachments: list[str] | None = None) -> dict[str, Any]:
    """The `input` of a user message."""
    return {
        "content": [{"type": "input_text", "text": text}],
        "attachments": attachments or [],
        "inference_options": {},
    }


@dataclass
class Tenant:
    """One user's seeded rows: a thread per state, the ids inside them and an uploaded file."""

    user: str
    threads: dict[str, str] = field(default_factory=dict[str, str])
    items: dict[str, str] = field(default_factory=dict[str, str])
    attachment: str = ""

    @property
    def context(self) -> dict[str, Any]:
        """The request context of this user."""
        return {"user_id": self.user}

    def ids(self) -> list[str]:
        """Every id this tenant owns."""
        return [*self.threads.values(), *self.items.values(), self.attachment]

    def templates(self) -> list[dict[str, Any]]:
        """One valid request of each of the sixteen types, addressed to this tenant's rows."""
        t, i = self.threads, self.items
        action = {"type": "press", "payload": {"n": 1}}
        return [
            {"type": "threads.create", "params": {"input": user_input("hello again")}},
            {"type": "threads.add_user_message", "params": {"thread_id": t["chat"], "input": user_input("more")}},
            {"type": "threads.add_client_tool_output", "params": {"thread_id": t["tool"], "result": {"c": "red"}}},
            {
                "type": "threads.add_structured_input",
                "params": {
                    "thread_id": t["ask"],
                    "item_id": i["ask"],
                    "input": {"status": "answered", "answers": {"q1": {"values": ["because"]}}},
                },
            },
            {"type": "threads.retry_after_item", "params": {"thread_id": t["chat"], "item_id": i["chat_message"]}},
            {
                "type": "threads.custom_action",
                "params": {"thread_id": t["widget"], "item_id": i["widget"], "action": action},
            },
            {
                "type": "threads.sync_custom_action",
                "params": {"thread_id": t["widget"], "item_id": i["widget"], "action": action},
            },
            {"type": "threads.get_by_id", "params": {"thread_id": t["chat"]}},
            {"type": "threads.list", "params": {"limit": 5, "order": "asc", "after": t["chat"]}},
            {"type": "items.list", "params": {"thread_id": t["chat"], "limit": 3, "after": i["chat_message"]}},
            {
                "type": "items.feedback",
                "params": {"thread_id": t["chat"], "item_ids": [i["chat_answer"]], "kind": "positive"},
            },
            {"type": "attachments.create", "params": {"name": "n.txt", "size": 5, "mime_type": "text/plain"}},
            {"type": "attachments.delete", "params": {"attachment_id": self.attachment}},
            {"type": "threads.update", "params": {"thread_id": t["chat"], "title": "renamed"}},
            {"type": "threads.delete", "params": {"thread_id": t["spare1"]}},
            {"type": "input.transcribe", "params": {"audio_base64": "aGVsbG8=", "mime_type": "audio/webm"}},
        ]


async def collect(server: ChatKitServer[Any], request: dict[str, Any], context: Any) -> list[dict[str, Any]]:
    """Run a request that must succeed: its events, or its JSON answer as a one-element list."""
    result = await server.process(json.dumps(request), context)
    if isinstance(result, StreamingResult):
        return [json.loads(frame[len(b"data: ") :]) async for frame in result]
    return [json.loads(result.json)]


async def seed_tenant(server: ChatKitServer[Any], files: LocalAttachmentStore[Any], user: str) -> Tenant:
    """Create one user's threads (one per state), and an uploaded text file."""
    tenant = Tenant(user)
    for label in LABELS:
        events = await collect(
            server, {"type": "threads.create", "params": {"input": user_input(label)}}, tenant.context
        )
        tenant.threads[label] = events[0]["thread"]["id"]
        done = [event["item"] for event in events if event["type"] == "thread.item.done"]
        if label == "chat":
            tenant.items["chat_message"], tenant.items["chat_answer"] = done[0]["id"], done[1]["id"]
        elif label in ("tool", "ask", "widget"):
            tenant.items[label] = done[-1]["id"]
    created = await collect(
        server,
        {"type": "attachments.create", "params": {"name": "notes.txt", "size": 11, "mime_type": "text/plain"}},
        tenant.context,
    )
    tenant.attachment = created[0]["id"]
    key = files.scope_key(tenant.context)
    await files.save_file(tenant.attachment, "notes.txt", "text/plain", b"hello world", key)
    uploaded = files.describe(tenant.attachment, "notes.txt", "text/plain", key)
    await server.store.save_attachment(uploaded, tenant.context)
    return tenant


def files_listing(root: Path) -> tuple[tuple[Any, ...], ...]:
    """Every file under `root` with its size."""
    if not root.exists():
        return ()
    return tuple(sorted((str(path.relative_to(root)), path.stat().st_size) for path in root.rglob("*")))


class SQLiteProbe:
    """Reads and empties a `SQLiteStore` file behind the store's back, through a connection of its own."""

    def __init__(self, db_path: Path, files_root: Path) -> None:
        self.files_root = files_root
        # Used from worker threads, one call at a time.
        self._connection = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)

    async def snapshot(self) -> Snapshot:
        """Every row, by scope, and the files."""
        return await asyncio.to_thread(self._read)

    async def reset(self) -> None:
        """Delete every row and every file."""
        await asyncio.to_thread(self._clear)

    def close(self) -> None:
        """Close the probe's connection."""
        self._connection.close()

    def _read(self) -> Snapshot:
        rows: list[tuple[Any, ...]] = []
        for table in TABLES:
            cursor = self._connection.execute(f"SELECT scope, * FROM chatkit_{table} ORDER BY scope, id")
            rows.extend((table, *row) for row in cursor)
        return _by_scope(rows, self.files_root)

    def _clear(self) -> None:
        for table in TABLES:
            self._connection.execute(f"DELETE FROM chatkit_{table}")
        shutil.rmtree(self.files_root, ignore_errors=True)


class PostgresProbe:
    """Reads and empties a `PostgresStore` schema through an autocommit connection of its own."""

    def __init__(self, connection: Any, schema: str, files_root: Path) -> None:
        self.files_root = files_root
        self._connection = connection
        self._schema = schema

    async def snapshot(self) -> Snapshot:
        """Every row, by scope, and the files."""
        rows: list[tuple[Any, ...]] = []
        for table in TABLES:
            query = f'SELECT scope, * FROM "{self._schema}".{table} ORDER BY scope, key'
            cursor = await self._connection.execute(query.encode())
            rows.extend((table, *row) for row in await cursor.fetchall())
        return _by_scope(rows, self.files_root)

    async def reset(self) -> None:
        """Delete every row and every file."""
        for table in TABLES:
            await self._connection.execute(f'DELETE FROM "{self._schema}".{table}'.encode())
        await asyncio.to_thread(shutil.rmtree, self.files_root, True)


def _by_scope(rows: list[tuple[Any, ...]], files_root: Path) -> Snapshot:
    # Each row is (table, scope, every column...).
    grouped: dict[str, list[tuple[Any, ...]]] = {}
    for row in rows:
        grouped.setdefault(str(row[1]), []).append(row)
    result: Snapshot = {scope: tuple(scoped) for scope, scoped in grouped.items()}
    result[FILES_SCOPE] = files_listing(files_root)
    return result
