"""Attacks on ids and attachments, over real HTTP on every store backend.

- ids forced into a tiny space, so that tenants collide for certain: no read, overwrite or delete
  ever crosses a tenant, and a clash within one tenant is refused, never an overwrite;
- a deleted thread takes its attachments with it: records, bytes and preview URLs;
- `attachments.delete` racing an upload in flight: the deletion always wins;
- one single-use upload URL sent many times at once, to two app instances and to two server
  processes sharing the disk and the database;
- two-phase announcements with absurd names and sizes;
- a tenant id longer than a database index entry.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import string
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatkit.asgi import create_app
from chatkit.attachments import LocalAttachmentStore
from chatkit.store import StoreItemType
from chatkit.stores import ScopedStore
from chatkit.types import ThreadMetadata
from tests.http import serving, user_message
from tests.reliability.processes import store_options
from tests.reliability.scripted import CannedServer, Context
from tests.reliability.serving import ServerProcess, user_context
from tests.stores.backends import STORE_BACKENDS, make_store

USERS = ("alice", "bob")
ID_SPACE = 16
"""Attachment ids drawn from this many values: the second tenant gets every id of the first."""


class TinySpaceFiles(LocalAttachmentStore[Context]):
    """Attachment ids that cycle through `ID_SPACE` values."""

    def __init__(self, root: Path, **options: Any) -> None:
        super().__init__(root, secret="attacks", max_bytes=4096, **options)
        self._ids: Iterator[int] = itertools.cycle(range(ID_SPACE))

    def generate_attachment_id(self, mime_type: str, context: Context) -> str:
        """The next id of the cycle."""
        return f"atc_{next(self._ids):02d}"


def force_tiny_ids(store: ScopedStore, threads: int, items: int) -> None:
    """Make `store` draw thread and item ids from cycles of `threads` and `items` values."""
    thread_ids = itertools.cycle(f"thr_{index}" for index in range(threads))
    item_ids = itertools.cycle(f"msg_{index}" for index in range(items))

    def thread_id(context: Any) -> str:
        return next(thread_ids)

    def item_id(item_type: StoreItemType, thread: ThreadMetadata, context: Any) -> str:
        return next(item_ids)

    store.generate_thread_id = thread_id  # type: ignore[method-assign]
    store.generate_item_id = item_id  # type: ignore[method-assign]


class Attack:
    """A served app, a client, the attachment files and the store behind it."""

    def __init__(self, url: str, client: httpx.AsyncClient, files: LocalAttachmentStore[Any], store: ScopedStore):
        self.url = url
        self.client = client
        self.files = files
        self.store = store

    async def post(self, request: dict[str, Any], user: str) -> httpx.Response:
        """A request to the ChatKit endpoint as `user`."""
        return await self.client.post(f"{self.url}/chatkit", json=request, headers={"x-user": user})

    async def announce(self, user: str, name: str = "note.txt", size: int = 16, mime: str = "text/plain") -> Any:
        """`attachments.create` that must succeed; the attachment."""
        answer = await self.post(
            {"type": "attachments.create", "params": {"name": name, "size": size, "mime_type": mime}}, user
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def upload(self, user: str, content: bytes, mime: str = "text/plain") -> Any:
        """A two-phase upload that must succeed; the uploaded attachment."""
        attachment = await self.announce(user, size=len(content), mime=mime)
        put = await self.client.put(attachment["upload_descriptor"]["url"], content=content, headers={"x-user": user})
        assert put.status_code == 200, put.text
        return put.json()

    async def download(self, attachment_id: str, user: str) -> httpx.Response:
        """The owner's route to a file (no token)."""
        return await self.client.get(f"{self.url}/chatkit/files/{attachment_id}", headers={"x-user": user})

    def bytes_on_disk(self) -> list[str]:
        """Every file below the attachment directory."""
        root = self.files.root
        return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


@asynccontextmanager
async def attack(backend: str, tmp_path: Path, files: LocalAttachmentStore[Any] | None = None) -> AsyncIterator[Attack]:
    """The app over real HTTP on `backend`, with `files` (tiny-space ids by default)."""
    files = files or TinySpaceFiles(tmp_path / "files")
    async with make_store(backend, tmp_path) as store:
        app = create_app(CannedServer(store, files, deltas=1, pause=0), context=user_context)
        async with serving(app) as url, httpx.AsyncClient(timeout=30) as client:
            yield Attack(url, client, files, store)


# -- ids that collide ------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", STORE_BACKENDS)
async def test_tenants_sharing_every_id_never_reach_each_other(backend: str, tmp_path: Path) -> None:
    """Each tenant gets all 16 attachment ids, 4 thread ids and 3 item ids: every id collides."""
    async with attack(backend, tmp_path) as a:
        force_tiny_ids(a.store, threads=4, items=3)
        uploaded: dict[str, dict[str, bytes]] = {user: {} for user in USERS}
        previews: dict[str, dict[str, str]] = {user: {} for user in USERS}
        threads: dict[str, list[str]] = {user: [] for user in USERS}
        for user in USERS:
            for number in range(ID_SPACE):
                content = f"{user} file {number}".encode()
                if number % 2:
                    attachment = await a.upload(user, content)
                else:
                    direct = await a.client.post(
                        f"{a.url}/chatkit/upload",
                        files={"file": (f"{number}.png", PNG + content, "image/png")},
                        headers={"x-user": user},
                    )
                    assert direct.status_code == 200, direct.text
                    attachment, content = direct.json(), PNG + content
                    previews[user][attachment["id"]] = attachment["preview_url"]
                uploaded[user][attachment["id"]] = content
            for number in range(4):
                created = await a.client.post(
                    f"{a.url}/chatkit",
                    json=user_message(f"{user} thread {number}"),
                    headers={"x-user": user},
                )
                assert created.status_code == 200, created.text
                threads[user].append(created.text.split('"id":"', 1)[1].split('"', 1)[0])
        assert sorted(uploaded["alice"]) == sorted(uploaded["bob"]) == [f"atc_{n:02d}" for n in range(ID_SPACE)]
        assert threads["alice"] == threads["bob"] == ["thr_0", "thr_1", "thr_2", "thr_3"]

        # A seventeenth attachment, a fifth thread: every id of the space is taken within the
        # tenant, so the clash is refused; nothing is overwritten.
        clash = await a.post(
            {"type": "attachments.create", "params": {"name": "x.txt", "size": 1, "mime_type": "text/plain"}}, "alice"
        )
        assert clash.status_code >= 400
        fifth = await a.client.post(f"{a.url}/chatkit", json=user_message("fifth"), headers={"x-user": "alice"})
        assert fifth.status_code >= 400 or b'"type":"error"' in fifth.content

        crossings = 0
        for user in USERS:
            for attachment_id, content in uploaded[user].items():
                crossings += (await a.download(attachment_id, user)).content != content
            for attachment_id, url in previews[user].items():
                crossings += (await a.client.get(url)).content != uploaded[user][attachment_id]
            for number, thread_id in enumerate(threads[user]):
                items = await a.post({"type": "items.list", "params": {"thread_id": thread_id}}, user)
                texts = [item["content"][0]["text"] for item in items.json()["data"] if item["type"] == "user_message"]
                crossings += texts != [f"{user} thread {number}"]
        assert crossings == 0

        # Bob deletes every id of the space, threads included: Alice's are all still hers.
        for attachment_id in uploaded["bob"]:
            deleted = await a.post({"type": "attachments.delete", "params": {"attachment_id": attachment_id}}, "bob")
            assert deleted.status_code == 200, deleted.text
        for thread_id in threads["bob"]:
            deleted = await a.post({"type": "threads.delete", "params": {"thread_id": thread_id}}, "bob")
            assert deleted.status_code == 200, deleted.text
        for attachment_id, content in uploaded["alice"].items():
            assert (await a.download(attachment_id, "alice")).content == content
            assert (await a.download(attachment_id, "bob")).status_code == 404
        for attachment_id, url in previews["bob"].items():
            assert (await a.client.get(url)).status_code == 404
            assert (await a.client.get(previews["alice"][attachment_id])).status_code == 200
        listed = await a.post({"type": "threads.list", "params": {}}, "alice")
        assert len(listed.json()["data"]) == 4


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_an_upload_url_of_one_tenant_never_writes_anothers_file(backend: str, tmp_path: Path) -> None:
    async with attack(backend, tmp_path) as a:
        alices = await a.announce("alice", size=13)
        put = await a.client.put(
            alices["upload_descriptor"]["url"], content=b"alice's words", headers={"x-user": "alice"}
        )
        assert put.status_code == 200, put.text
        bobs = await a.announce("bob")
        assert bobs["id"] != alices["id"]
        # Bob's id space starts over at Alice's id: his upload URL for it writes his file only.
        for _ in range(ID_SPACE - 1):
            bobs = await a.announce("bob")
        assert bobs["id"] == alices["id"]
        put = await a.client.put(bobs["upload_descriptor"]["url"], content=b"bob's words!!", headers={"x-user": "bob"})
        assert put.status_code == 200, put.text
        assert (await a.download(alices["id"], "alice")).content == b"alice's words"
        assert (await a.download(bobs["id"], "bob")).content == b"bob's words!!"
        # Alice's URL in Bob's hands (the same id, and a record of his own with it): refused.
        stolen = await a.client.put(alices["upload_descriptor"]["url"], content=b"x", headers={"x-user": "bob"})
        assert stolen.status_code in (403, 404, 409)
        assert (await a.download(alices["id"], "alice")).content == b"alice's words"


# -- a deleted thread takes its attachments --------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.mark.parametrize("backend", STORE_BACKENDS)
async def test_deleting_a_thread_deletes_its_attachments_and_their_urls(backend: str, tmp_path: Path) -> None:
    files = LocalAttachmentStore[Any](tmp_path / "files", secret="attacks", max_bytes=4096)
    async with attack(backend, tmp_path, files) as a:
        image = await a.upload("alice", PNG, mime="image/png")
        direct = await a.client.post(
            f"{a.url}/chatkit/upload", files={"file": ("n.txt", b"notes", "text/plain")}, headers={"x-user": "alice"}
        )
        kept = await a.upload("alice", b"kept, never attached")
        attached = [image["id"], direct.json()["id"]]
        created = await a.client.post(
            f"{a.url}/chatkit", json=user_message("look", attachments=attached), headers={"x-user": "alice"}
        )
        thread_id = created.text.split('"id":"', 1)[1].split('"', 1)[0]
        assert (await a.client.get(image["preview_url"])).status_code == 200

        deleted = await a.post({"type": "threads.delete", "params": {"thread_id": thread_id}}, "alice")
        assert deleted.status_code == 200, deleted.text
        assert (await a.client.get(image["preview_url"])).status_code == 404
        for attachment_id in attached:
            assert (await a.download(attachment_id, "alice")).status_code == 404
            again = await a.post({"type": "attachments.delete", "params": {"attachment_id": attachment_id}}, "alice")
            assert again.status_code == 404
        key = files.scope_key({"user_id": "alice"})
        assert a.bytes_on_disk() == [f"{key}/{kept['id']}/{name}" for name in ("data", "meta.json", "uploaded")]
        assert (await a.download(kept["id"], "alice")).content == b"kept, never attached"
        gone = await a.post({"type": "threads.delete", "params": {"thread_id": thread_id}}, "alice")
        assert gone.status_code == 404


async def test_preview_urls_expire_after_an_hour_by_default(tmp_path: Path) -> None:
    files = LocalAttachmentStore[Any](tmp_path / "files", secret="attacks", max_bytes=4096)
    async with attack("sqlite", tmp_path, files) as a:
        image = await a.upload("alice", PNG, mime="image/png")
        expires = int(image["preview_url"].split("token=", 1)[1].split(".", 1)[0])
        assert 3590 <= expires - time.time() <= 3600


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_preview_urls_expire_and_a_reloaded_thread_gets_fresh_ones(backend: str, tmp_path: Path) -> None:
    files = LocalAttachmentStore[Any](tmp_path / "files", secret="attacks", max_bytes=4096, preview_ttl=3)
    async with attack(backend, tmp_path, files) as a:
        image = await a.upload("alice", PNG, mime="image/png")
        assert (await a.client.get(image["preview_url"])).status_code == 200
        created = await a.client.post(
            f"{a.url}/chatkit", json=user_message("see", attachments=[image["id"]]), headers={"x-user": "alice"}
        )
        thread_id = created.text.split('"id":"', 1)[1].split('"', 1)[0]
        await asyncio.sleep(4.1)
        assert (await a.client.get(image["preview_url"])).status_code == 403
        # The owner still reaches it without a token, and a reload signs the preview afresh.
        assert (await a.download(image["id"], "alice")).content == PNG
        reloaded = await a.post({"type": "threads.get_by_id", "params": {"thread_id": thread_id}}, "alice")
        fresh = reloaded.json()["items"]["data"][0]["attachments"][0]["preview_url"]
        assert fresh != image["preview_url"]
        assert (await a.client.get(fresh)).content == PNG
        record = await a.store.load_attachment(image["id"], {"user_id": "alice"})
        assert (await a.client.get(str(record.preview_url))).content == PNG  # pyright: ignore[reportAttributeAccessIssue]


# -- uploads racing deletions, single-use tokens ---------------------------------------------------

RACES = 20


class _SlowBody(httpx.AsyncByteStream):
    """A request body sent in two halves, the second once `go` is set."""

    def __init__(self, content: bytes, started: asyncio.Event, go: asyncio.Event) -> None:
        self.content = content
        self.started = started
        self.go = go

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.content[:8]
        self.started.set()
        await self.go.wait()
        yield self.content[8:]


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_deletion_during_an_upload_always_wins(backend: str, tmp_path: Path) -> None:
    files = LocalAttachmentStore[Any](tmp_path / "files", secret="attacks", max_bytes=4096)
    async with attack(backend, tmp_path, files) as a:
        resurrected = 0
        for _ in range(RACES):
            attachment = await a.announce("alice", size=32)
            started, go = asyncio.Event(), asyncio.Event()
            body = _SlowBody(b"racing upload, byte after byte.", started, go)
            upload = asyncio.create_task(
                a.client.put(
                    attachment["upload_descriptor"]["url"],
                    content=body,
                    headers={"x-user": "alice", "content-length": "31"},
                )
            )
            await started.wait()
            await asyncio.sleep(0.02)
            deleted = await a.post(
                {"type": "attachments.delete", "params": {"attachment_id": attachment["id"]}}, "alice"
            )
            assert deleted.status_code == 200, deleted.text
            go.set()
            answer = await upload
            assert answer.status_code == 404, answer.text
            resurrected += (await a.download(attachment["id"], "alice")).status_code != 404
        assert resurrected == 0
        assert a.bytes_on_disk() == []


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_uploads_and_deletions_fired_together_never_resurrect(backend: str, tmp_path: Path) -> None:
    files = LocalAttachmentStore[Any](tmp_path / "files", secret="attacks", max_bytes=4096)
    async with attack(backend, tmp_path, files) as a:
        resurrected = 0
        for race in range(RACES):
            attachment = await a.announce("alice", size=5)
            put = a.client.put(attachment["upload_descriptor"]["url"], content=b"hello", headers={"x-user": "alice"})
            delete = a.post({"type": "attachments.delete", "params": {"attachment_id": attachment["id"]}}, "alice")
            first, second = (put, delete) if race % 2 else (delete, put)
            await asyncio.gather(first, second)
            record = await a.post(
                {"type": "attachments.delete", "params": {"attachment_id": attachment["id"]}}, "alice"
            )
            resurrected += record.status_code != 404
            resurrected += (await a.download(attachment["id"], "alice")).status_code != 404
        assert resurrected == 0
        assert a.bytes_on_disk() == []


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_single_use_url_sent_twenty_times_at_once_uploads_once(backend: str, tmp_path: Path) -> None:
    """Half the copies go to a second app instance with its own `LocalAttachmentStore` on the same disk."""
    files = LocalAttachmentStore[Any](tmp_path / "files", secret="attacks", max_bytes=4096)
    twin = LocalAttachmentStore[Any](tmp_path / "files", secret="attacks", max_bytes=4096)
    async with attack(backend, tmp_path, files) as a:
        twin_app = create_app(CannedServer(a.store, twin), context=user_context)
        async with serving(twin_app) as twin_url:
            attachment = await a.announce("alice", size=5)
            url = attachment["upload_descriptor"]["url"]
            twin_copy = url.replace(a.url, twin_url)
            answers = await asyncio.gather(
                *(
                    a.client.put(
                        url if n % 2 else twin_copy, content=f"try{n:02d}".encode(), headers={"x-user": "alice"}
                    )
                    for n in range(RACES)
                )
            )
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [200] + [409] * (RACES - 1), [answer.text for answer in answers]
        winner = next(answer for answer in answers if answer.status_code == 200)
        served = await a.download(attachment["id"], "alice")
        assert served.status_code == 200 and served.content.startswith(b"try")
        assert winner.json()["id"] == attachment["id"]


# -- two-phase announcements ----------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_announced_names_are_sanitised_and_sizes_checked(backend: str, tmp_path: Path) -> None:
    files = LocalAttachmentStore[Any](tmp_path / "files", secret="attacks", max_bytes=4096)
    async with attack(backend, tmp_path, files) as a:
        huge_name = "\u202egnp.exe" + "a" * 500_000 + ".txt"
        attachment = await a.announce("alice", name=f"../../{huge_name}", size=5)
        assert attachment["name"] == ("gnp.exe" + "a" * 500_000)[:255]
        put = await a.client.put(attachment["upload_descriptor"]["url"], content=b"hello", headers={"x-user": "alice"})
        assert put.status_code == 200
        served = await a.download(attachment["id"], "alice")
        assert len(served.headers["content-disposition"]) < 1024
        assert "\u202e" not in served.headers["content-disposition"]
        for size in (-5, -1):
            refused = await a.post(
                {"type": "attachments.create", "params": {"name": "a.txt", "size": size, "mime_type": "text/plain"}},
                "alice",
            )
            assert refused.status_code == 400, refused.text
        absurd = await a.post(
            {"type": "attachments.create", "params": {"name": "a.txt", "size": 10**30, "mime_type": "text/plain"}},
            "alice",
        )
        assert absurd.status_code in (400, 413), absurd.text


# -- a tenant id over an index entry ---------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_tenant_id_of_ten_kilobytes_works(backend: str, tmp_path: Path) -> None:
    """Random letters do not compress: PostgreSQL once refused such a scope in its keys (and said 503)."""
    user = "".join(random.Random(7).choices(string.ascii_letters + string.digits, k=10_000))
    files = LocalAttachmentStore[Any](tmp_path / "files", secret="attacks", max_bytes=4096)
    async with attack(backend, tmp_path, files) as a:
        created = await a.client.post(f"{a.url}/chatkit", json=user_message("hi"), headers={"x-user": user})
        assert created.status_code == 200, created.text
        assert b'"type":"error"' not in created.content
        thread_id = created.text.split('"id":"', 1)[1].split('"', 1)[0]
        uploaded = await a.upload(user, b"long user")
        assert (await a.download(uploaded["id"], user)).content == b"long user"
        listed = await a.post({"type": "threads.list", "params": {}}, user)
        assert [thread["id"] for thread in listed.json()["data"]] == [thread_id]
        deleted = await a.post({"type": "threads.delete", "params": {"thread_id": thread_id}}, user)
        assert deleted.status_code == 200


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
async def test_a_single_use_url_is_used_once_across_server_processes(backend: str, tmp_path: Path) -> None:
    """Two `python -m tests.reliability.serve` processes on one database and one upload directory."""
    async with store_options(backend, tmp_path) as options:
        files = ["--files", str(tmp_path / "files")]
        servers = [ServerProcess(*options, *files, log=tmp_path / f"server{n}.log") for n in range(2)]
        try:
            for server in servers:
                await server.start()
            async with httpx.AsyncClient(timeout=30) as client:
                uses = 0
                for _ in range(5):
                    announced = await client.post(
                        f"{servers[0].url}/chatkit",
                        json={
                            "type": "attachments.create",
                            "params": {"name": "a.txt", "size": 5, "mime_type": "text/plain"},
                        },
                        headers={"x-user": "alice"},
                    )
                    url = announced.json()["upload_descriptor"]["url"]
                    copies = [url.replace(servers[0].url, servers[n % 2].url) for n in range(RACES)]
                    answers = await asyncio.gather(
                        *(client.put(copy, content=b"hello", headers={"x-user": "alice"}) for copy in copies)
                    )
                    statuses = [answer.status_code for answer in answers]
                    assert sorted(statuses) == [200] + [409] * (RACES - 1), [answer.text for answer in answers]
                    uses += statuses.count(200)
                assert uses == 5
        finally:
            for server in servers:
                await server.stop()
