"""Copying a store into another (`copy_store`, `chatkit copy`): faithful, idempotent, resumable, verified."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from chatkit.attachments._checks import AttachmentRejectedError
from chatkit.attachments._s3 import S3AttachmentStore
from chatkit.cli import main
from chatkit.data import CopyProgress, copy_store
from chatkit.data._copy import FileImporter
from chatkit.stores import ScopedStore, _codec
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    FileAttachment,
    InferenceOptions,
    ThreadMetadata,
    UserMessageItem,
    UserMessageTextContent,
)
from tests.attachments.backends import ATTACHMENT_BACKENDS, Files, make_files, moto_endpoint, read, stream
from tests.stores.backends import make_store
from tests.stores.reference_style import IdOnlyStore

from . import reference_source
from .reference_source import DictFiles, DictStore
from .tenants import Tenant, add_thread, fill, scope_key, upload

REPO = Path(__file__).resolve().parents[2]
COPY_COMMAND = [sys.executable, "-m", "chatkit", "copy"]
USERS = ("alice", "bob", "carol")
FILES = "tests.data.reference_source:FILES"
THREADS_PER_USER = 20


async def fill_bulk(store: ScopedStore, files: Files, user: str, threads: int = THREADS_PER_USER) -> Tenant:
    """`fill`'s two threads and loose uploads, a file spanning several slices, and more threads up to `threads`."""
    tenant = await fill(store, files, user)
    text = b"".join(f"line {n} of {user}'s long file\n".encode() for n in range(1500))
    long_file = await upload(files, tenant.context, "long.txt", "text/plain", text)
    tenant.files[long_file.id] = text
    for n in range(threads - len(tenant.threads)):
        await add_thread(store, tenant, f"{user} #{n}", [long_file] if n == 0 else [])
    return tenant


async def snapshot(store: ScopedStore, files: Files | None) -> dict[str, Any]:
    """Every tenant's threads, items and attachment records as stored JSON, in order, and its files' bytes."""
    tenants: dict[str, Any] = {}
    for scope in await store.scopes():
        context = {"user_id": scope}
        threads = (await store.load_threads(10_000, None, "asc", context)).data
        items: dict[str, list[str]] = {}
        for thread in threads:
            page = await store.load_thread_items(thread.id, None, 10_000, "asc", context)
            items[thread.id] = [_codec.dump_item(item) for item in page.data]
        records = await store.load_tenant_attachments(context)
        tenants[scope] = {
            "threads": [_codec.dump_thread(thread) for thread in threads],
            "items": items,
            "attachments": [_codec.dump_attachment(record) for record in records],
            "files": {} if files is None else {record.id: await read(files, record.id, context) for record in records},
        }
    return tenants


def sqlite_rows(path: Path) -> list[Any]:
    """Every row of a SQLite store, write stamps included, read from the file itself."""
    with closing(sqlite3.connect(path)) as db:
        return [
            row
            for table in ("chatkit_threads", "chatkit_items", "chatkit_attachments")
            for row in db.execute(f"SELECT * FROM {table} ORDER BY rowid")
        ]


def importer(files: Files) -> FileImporter:
    """The attachment store of `files` as `copy_store` writes into it."""
    store = files.store
    assert isinstance(store, FileImporter)
    return store


def folder(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir()
    return path


# -- copies of our own stores ------------------------------------------------------------------


@pytest.mark.service
async def test_sqlite_to_postgresql_and_back_gives_the_same_store_item_for_item_and_byte_for_byte(
    tmp_path: Path,
) -> None:
    first, last = folder(tmp_path, "first"), folder(tmp_path, "last")
    async with (
        make_store("sqlite", first) as origin,
        make_files("local", first) as origin_files,
        make_store("postgres", tmp_path) as middle,
        make_files("postgres", tmp_path) as middle_files,
        make_store("sqlite", last) as copy,
        make_files("local", last) as copy_files,
    ):
        tenants = [await fill_bulk(origin, origin_files, user) for user in USERS]
        files = sum(len(tenant.files) for tenant in tenants)

        there = await copy_store(origin, middle, source_files=origin_files.store, target_files=middle_files.store)
        assert there.matched, there.mismatches
        assert there.tenants == len(USERS)
        assert there.threads.copied == len(USERS) * THREADS_PER_USER
        assert there.items.copied == sum(tenant.items for tenant in tenants)
        assert there.attachments.copied == files and there.files.copied == files
        assert there.bytes == sum(len(data) for tenant in tenants for data in tenant.files.values())
        for check in there.checked:
            assert check.source == check.target
            assert (check.source.threads, check.source.files) == (THREADS_PER_USER, 4)

        back = await copy_store(middle, copy, source_files=middle_files.store, target_files=copy_files.store)
        assert back.matched, back.mismatches

        assert await snapshot(copy, copy_files) == await snapshot(origin, origin_files)
        for tenant in tenants:
            for attachment_id, data in tenant.files.items():
                assert await read(copy_files, attachment_id, tenant.context) == data


async def test_a_second_copy_copies_nothing_and_leaves_the_target_untouched(tmp_path: Path) -> None:
    source, target = folder(tmp_path, "source"), folder(tmp_path, "target")
    async with (
        make_store("sqlite", source) as origin,
        make_files("local", source) as origin_files,
        make_store("sqlite", target) as copy,
        make_files("local", target) as copy_files,
    ):
        for user in USERS[:2]:
            await fill_bulk(origin, origin_files, user, threads=5)
        first = await copy_store(origin, copy, source_files=origin_files.store, target_files=copy_files.store)
        assert first.matched and first.copied
        rows, contents = sqlite_rows(target / "chatkit.db"), await snapshot(copy, copy_files)

        again = await copy_store(origin, copy, source_files=origin_files.store, target_files=copy_files.store)

        assert again.matched, again.mismatches
        assert again.copied == 0 and again.bytes == 0
        for kind in ("threads", "items", "attachments", "files"):
            assert getattr(again, kind).skipped == getattr(first, kind).copied
        # Not a row rewritten: the write stamps are those of the first copy.
        assert sqlite_rows(target / "chatkit.db") == rows
        assert await snapshot(copy, copy_files) == contents


async def test_a_copy_stopped_part_way_resumes_to_what_one_uninterrupted_copy_gives(tmp_path: Path) -> None:
    class Stop(Exception):
        pass

    def stop_after(threads: int) -> Any:
        def progress(state: CopyProgress) -> None:
            if state.threads_done >= threads:
                raise Stop

        return progress

    source, resumed, straight = folder(tmp_path, "source"), folder(tmp_path, "resumed"), folder(tmp_path, "straight")
    async with (
        make_store("sqlite", source) as origin,
        make_files("local", source) as origin_files,
        make_store("sqlite", resumed) as copy,
        make_files("local", resumed) as copy_files,
        make_store("sqlite", straight) as reference,
        make_files("local", straight) as reference_files,
    ):
        tenants = [await fill_bulk(origin, origin_files, user, threads=6) for user in USERS]
        with pytest.raises(Stop):
            await copy_store(
                origin, copy, source_files=origin_files.store, target_files=copy_files.store, progress=stop_after(8)
            )
        # Killed in the middle of a thread: its last items had not been written, nor a file of it.
        bob = tenants[1]
        last = bob.threads[1]
        held = (await copy.load_thread_items(last, None, 100, "asc", bob.context)).data
        assert len(held) == 2
        await copy.delete_thread_item(last, held[-1].id, bob.context)
        first_file = next(iter(bob.files))
        await copy_files.store.delete_attachment(first_file, bob.context)

        report = await copy_store(origin, copy, source_files=origin_files.store, target_files=copy_files.store)
        assert report.matched, report.mismatches
        assert report.threads.skipped == 8 and report.threads.copied == len(USERS) * 6 - 8
        assert report.items.copied and report.files.copied

        await copy_store(origin, reference, source_files=origin_files.store, target_files=reference_files.store)
        assert await snapshot(copy, copy_files) == await snapshot(reference, reference_files)
        assert await snapshot(copy, copy_files) == await snapshot(origin, origin_files)


async def test_verification_names_what_differs_and_progress_counts_every_thread(tmp_path: Path) -> None:
    source, target = folder(tmp_path, "source"), folder(tmp_path, "target")
    async with make_store("sqlite", source) as origin, make_store("sqlite", target) as copy:
        seen: list[CopyProgress] = []
        async with make_files("local", source) as origin_files:
            alice = await fill_bulk(origin, origin_files, "alice", threads=3)
        report = await copy_store(origin, copy, progress=seen.append)
        assert report.matched and report.files.copied == 0
        assert seen[-1] == CopyProgress("alice", 3, 3)
        assert [state.threads_done for state in seen] == [0, 1, 2, 3]

        # The target drifts: a thread renamed there, one more thread there, an item gone.
        thread = await copy.load_thread(alice.threads[0], alice.context)
        thread.title = "renamed in the target"
        await copy.save_thread(thread, alice.context)
        extra = ThreadMetadata(id="thr_only_in_target", created_at=datetime.now(timezone.utc))
        await copy.save_thread(extra, alice.context)
        items = (await copy.load_thread_items(alice.threads[1], None, 10, "asc", alice.context)).data
        await copy.delete_thread_item(alice.threads[1], items[0].id, alice.context)

        report = await copy_store(origin, copy, contexts=[alice.context], verify=True)
        # The rename is undone and the item put back (at the end, since it was deleted from the middle).
        assert report.threads.updated == 1 and report.items.copied == 1
        assert not report.matched
        assert report.mismatches == [
            f"alice: thread {alice.threads[1]} differs (2 items in the source, 2 in the target)",
            "alice: thread thr_only_in_target is only in the target",
        ]


# -- sources written for the reference -----------------------------------------------------------


def fill_reference(store: DictStore, files: DictFiles, user: str, threads: int = 3) -> list[str]:
    """Threads of `user` written straight into a store of the reference's kind; their ids, oldest first."""
    context = {"user_id": user}
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    ids: list[str] = []
    for n in range(threads):
        thread = ThreadMetadata(id=f"thr_{user}_{n}", title=f"{user} {n}", created_at=start + timedelta(hours=n))
        attachment = FileAttachment(id=f"atc_{user}_{n}", name=f"{n}.txt", mime_type="text/plain")
        asyncio.run(store.save_thread(thread, context))
        asyncio.run(store.save_attachment(attachment, context))
        files.data[attachment.id] = f"{user}'s file {n}\n".encode()
        for m in range(4):
            created = start + timedelta(hours=n, minutes=m)
            item: Any = (
                UserMessageItem(
                    id=f"msg_{user}_{n}_{m}",
                    thread_id=thread.id,
                    created_at=created,
                    content=[UserMessageTextContent(text=f"question {m}")],
                    attachments=[attachment] if m == 0 else [],
                    inference_options=InferenceOptions(),
                )
                if m % 2 == 0
                else AssistantMessageItem(
                    id=f"msg_{user}_{n}_{m}",
                    thread_id=thread.id,
                    created_at=created,
                    content=[AssistantMessageContent(text=f"answer {m}")],
                )
            )
            asyncio.run(store.add_thread_item(thread.id, item, context))
        ids.append(thread.id)
    return ids


async def test_a_store_written_for_the_reference_is_copied_for_the_contexts_given(tmp_path: Path) -> None:
    store, files = DictStore(), DictFiles()
    await asyncio.to_thread(fill_reference, store, files, "alice")
    await asyncio.to_thread(fill_reference, store, files, "bob")
    async with make_store("sqlite", tmp_path) as copy, make_files("local", tmp_path) as copy_files:
        with pytest.raises(TypeError, match="give the contexts"):
            await copy_store(store, copy)
        contexts = [{"user_id": "alice"}, {"user_id": "bob"}]
        report = await copy_store(store, copy, contexts=contexts, source_files=files, target_files=copy_files.store)
        assert report.matched, report.mismatches
        assert (report.threads.copied, report.items.copied, report.attachments.copied) == (6, 24, 6)
        assert report.files.copied == 6
        for context in contexts:
            user = context["user_id"]
            threads = (await copy.load_threads(10, None, "asc", context)).data
            assert [thread.id for thread in threads] == [f"thr_{user}_{n}" for n in range(3)]
            # A record of the reference's kind names no file key: the file goes under the user's.
            assert await read(copy_files, f"atc_{user}_1", context) == f"{user}'s file 1\n".encode()
        again = await copy_store(store, copy, contexts=contexts, source_files=files, target_files=copy_files.store)
        assert again.matched and again.copied == 0


async def test_a_store_that_deletes_the_reference_way_copies_only_the_users_named(tmp_path: Path) -> None:
    async with make_files("local", tmp_path) as files, make_store("sqlite", tmp_path) as copy:
        store = IdOnlyStore()
        alice = await fill(store, files, "alice")
        await fill(store, files, "bob")
        report = await copy_store(store, copy, contexts=[alice.context])
        assert report.matched and report.threads.copied == 2
        assert await copy.scopes() == ["alice"]


def test_chatkit_copy_reads_a_store_of_your_own_named_by_module_and_attribute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store, files = DictStore(), DictFiles()
    fill_reference(store, files, "alice")
    fill_reference(store, files, "bob", threads=2)
    monkeypatch.setattr(reference_source, "STORE", store)
    monkeypatch.setattr(reference_source, "FILES", files)
    target = f"sqlite:///{tmp_path / 'copy.db'}"
    source = ["tests.data.reference_source:STORE", target]
    files_options = ["--from-files", "tests.data.reference_source:FILES", "--to-files", str(tmp_path / "files")]

    assert main(["copy", *source, "--users", "tests.data.reference_source:users", *files_options]) == 0
    out = capsys.readouterr()
    assert "threads: 5 copied, 0 already there" in out.out
    assert "verified: 2 tenant(s) with 5 threads, 20 items, 5 attachments, 5 files" in out.out
    assert out.err == ""  # not a terminal: no progress line

    assert main(["copy", *source, "--user", "bob", *files_options]) == 0
    assert "threads: 0 copied, 2 already there" in capsys.readouterr().out


@pytest.mark.service
def test_chatkit_copy_puts_the_files_in_an_s3_bucket_named_by_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = folder(tmp_path, "source")
    tenants: list[Tenant] = []

    async def prepare() -> str:
        async with make_store("sqlite", source) as origin, make_files("local", source) as origin_files:
            tenants.extend([await fill(origin, origin_files, user) for user in USERS[:2]])
        async with make_files("s3", tmp_path) as bucket:
            assert isinstance(bucket.store, S3AttachmentStore)
            return bucket.store.bucket

    bucket = asyncio.run(prepare())
    for name, value in [("AWS_ENDPOINT_URL", moto_endpoint()), ("AWS_DEFAULT_REGION", "us-east-1")]:
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    argv = ["copy", f"sqlite:///{source / 'chatkit.db'}", f"sqlite:///{tmp_path / 'copy.db'}"]
    argv += ["--from-files", f"file://{source / 'files'}", "--to-files", f"s3://{bucket}/chatkit"]

    assert main(argv) == 0
    assert "files: 6 copied" in capsys.readouterr().out

    async def check() -> None:
        async with make_files("s3", tmp_path) as copied:
            for tenant in tenants:
                for attachment_id, data in tenant.files.items():
                    assert await read(copied, attachment_id, tenant.context) == data

    asyncio.run(check())


class Terminal(io.StringIO):
    """Captured output that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_chatkit_copy_shows_its_progress_on_a_terminal_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, files = DictStore(), DictFiles()
    fill_reference(store, files, "alice", threads=2)
    monkeypatch.setattr(reference_source, "STORE", store)
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setattr(sys, "stdout", io.StringIO())

    target = f"sqlite:///{tmp_path / 'copy.db'}"
    assert main(["copy", "tests.data.reference_source:STORE", target, "--user", "alice"]) == 0
    shown = terminal.getvalue()
    assert "\rcopying: 0/2 threads (alice)" in shown and "\rcopying: 2/2 threads (alice)" in shown
    assert shown.endswith("\n") and shown.count("\n") == 1


# -- the command line ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["copy", "nosuch://x", "sqlite:///copy.db"], "Unknown store URL scheme 'nosuch'"),
        (["copy", "sqlite:///missing.db", "sqlite:///copy.db"], "FROM: there is no SQLite database"),
        (["copy", "memory://", "sqlite:////no/such/folder/copy.db"], "TO: the directory /no/such/folder does not"),
        (["copy", "memory://", "tests.data.reference_source:STORE"], "TO must be a store URL"),
        (["copy", "tests.data.reference_source:STORE", "sqlite:///copy.db"], "name them with --user USER"),
        (["copy", "tests.data.nothing_here:STORE", "sqlite:///copy.db"], "cannot import module"),
        (["copy", "memory://", "sqlite:///copy.db", "--from-files", "files"], "give both --from-files and --to-files"),
        (["copy", "memory://", "sqlite:///copy.db", "--from-files", "nowhere", "--to-files", "x"], "no directory"),
        (["copy", "memory://", "sqlite:///copy.db", "--from-files", "ftp://x", "--to-files", "y"], "unknown scheme"),
        (["copy", "memory://", "sqlite:///copy.db", "--user", "a", "--users", "m:f"], "--user or --users, not both"),
        (["copy", "memory://", "sqlite:///copy.db", "--from-files", FILES, "--to-files", FILES], "cannot take copied"),
        (["copy", "memory://"], "the following arguments are required: TO"),
    ],
)
def test_chatkit_copy_refuses_bad_input_in_one_line_with_status_2(
    argv: list[str], message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    try:
        status = main(argv)
    except SystemExit as exit:
        status = exit.code
    assert status == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1, err
    assert not (tmp_path / "copy.db").exists()


@pytest.mark.process
def test_chatkit_copy_killed_part_way_and_run_again_ends_as_one_uninterrupted_copy(tmp_path: Path) -> None:
    source, resumed, straight = folder(tmp_path, "source"), folder(tmp_path, "resumed"), folder(tmp_path, "straight")

    async def prepare() -> None:
        async with make_store("sqlite", source) as origin, make_files("local", source) as origin_files:
            for user in USERS:
                await fill_bulk(origin, origin_files, user)

    asyncio.run(prepare())
    total = len(USERS) * THREADS_PER_USER

    def command(target: Path, *options: str) -> list[str]:
        return [
            *COPY_COMMAND,
            f"sqlite:///{source / 'chatkit.db'}",
            f"sqlite:///{target / 'chatkit.db'}",
            "--from-files",
            str(source / "files"),
            "--to-files",
            f"file://{target / 'files'}",
            *options,
        ]

    env = {**os.environ, "PYTHONPATH": f"{REPO / 'src'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    process = subprocess.Popen(
        command(resumed, "--pause", "0.05"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        copied = 0
        deadline = time.monotonic() + 60
        while copied < total // 4:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the copy did not get going"
            time.sleep(0.01)
            copied = threads_in(resumed / "chatkit.db")
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.communicate()
    assert process.returncode == -signal.SIGKILL
    assert 0 < threads_in(resumed / "chatkit.db") < total

    again = subprocess.run(command(resumed), env=env, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr
    assert "verified: 3 tenant(s) with 60 threads" in again.stdout
    resumed_threads = re.search(r"threads: (\d+) copied, (\d+) already there", again.stdout)
    assert resumed_threads is not None
    assert int(resumed_threads[1]) > 0 and int(resumed_threads[2]) > 0
    straight_run = subprocess.run(command(straight), env=env, capture_output=True, text=True, timeout=120, check=False)
    assert straight_run.returncode == 0, straight_run.stderr

    async def compare() -> None:
        async with (
            make_store("sqlite", resumed) as copy,
            make_files("local", resumed) as copy_files,
            make_store("sqlite", straight) as reference,
            make_files("local", straight) as reference_files,
        ):
            assert await snapshot(copy, copy_files) == await snapshot(reference, reference_files)

    asyncio.run(compare())
    # Nothing a kill in the middle of a file left behind stays: the files' folders hold the same names.
    assert listing(resumed / "files") == listing(straight / "files")


def listing(root: Path) -> list[str]:
    """Every path below `root`, relative to it, sorted."""
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def threads_in(path: Path) -> int:
    """Threads in a SQLite store's file as another process sees it now; 0 before it exists."""
    if not path.exists():
        return 0
    try:
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as db:
            return int(db.execute("SELECT count(*) FROM chatkit_threads").fetchone()[0])
    except sqlite3.OperationalError:
        return 0  # the schema is not there yet


# -- putting files at a given id -------------------------------------------------------------------


@pytest.mark.parametrize("backend", ATTACHMENT_BACKENDS)
async def test_import_file_puts_the_bytes_at_the_given_id_once_and_takes_over_an_interrupted_one(
    backend: str, tmp_path: Path
) -> None:
    data = bytes(range(256)) * 100  # several PostgreSQL slices
    key = scope_key("alice")
    context = {"user_id": "alice"}

    async def broken() -> AsyncIterator[bytes]:
        yield data[:5000]
        raise ConnectionError("the source went away")

    async with make_files(backend, tmp_path) as files:
        store = importer(files)
        with pytest.raises(ConnectionError):
            await store.import_file("atc_copied", key, "blob.bin", "application/octet-stream", broken())
        assert await files.streams.stream_file("atc_copied", key) is None

        pieces = stream([data[:7000], data[7000:]])
        assert await store.import_file("atc_copied", key, "blob.bin", "application/octet-stream", pieces)
        opened = await files.streams.stream_file("atc_copied", key)
        assert opened is not None and (opened.name, opened.mime_type) == ("blob.bin", "application/octet-stream")
        assert await read(files, "atc_copied", context) == data

        assert not await store.import_file("atc_copied", key, "other.bin", "text/plain", stream([b"other"]))
        assert await read(files, "atc_copied", context) == data
        # Spent like an upload: an upload URL still around for the id cannot replace the copy.
        with pytest.raises(AttachmentRejectedError):
            await files.streams.save_upload("atc_copied", "x.txt", "text/plain", stream([b"x"]), key)
        assert await read(files, "atc_copied", context) == data
