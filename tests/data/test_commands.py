"""`chatkit retention`, `chatkit export`, `chatkit erase` and `chatkit serve --retain-days`, in-process."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

import chatkit.data
from chatkit.attachments._streams import streaming_files
from chatkit.cli import Policies, build_app, main
from chatkit.data import RetentionSweeper
from chatkit.stores import SQLiteStore
from tests.attachments.backends import Files

from . import dataapp
from .tenants import files_left, fill, rows_left

FACTORY = "tests.data.dataapp:make_server"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The URL of a SQLite store holding Alice's and Bob's data, files under `tmp_path/files`."""
    monkeypatch.setenv("CHATKIT_TEST_FILES", str(tmp_path / "files"))
    url = f"sqlite:///{tmp_path / 'chat.db'}"
    asyncio.run(_fill(tmp_path / "chat.db"))
    return url


async def _fill(path: Path) -> None:
    async with SQLiteStore(path) as store:
        files = _files()
        store.link_attachment_store(files.store)
        for user in ("alice", "bob"):
            await fill(store, files, user)


def _files() -> Files:
    store = dataapp.files()
    return Files(store, streaming_files(store))


def _left(url: str, user: str) -> tuple[int, int]:
    async def count() -> tuple[int, int]:
        async with SQLiteStore(url.removeprefix("sqlite:///")) as store:
            return await rows_left(store, user), await files_left(_files(), user)

    return asyncio.run(count())


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, Any, str]:
    status = main(argv)
    out, err = capsys.readouterr()
    return status, json.loads(out) if status == 0 else None, err


def test_erase_removes_one_user_with_their_files(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, report, _ = run(["erase", FACTORY, "--store", database, "--user", "alice", "--yes"], capsys)
    assert status == 0
    assert report["threads"] == 2 and report["files"] == 3 and report["stray_files"] == 1
    assert _left(database, "alice") == (0, 0)
    assert _left(database, "bob")[0] > 0 and _left(database, "bob")[1] > 0


def test_erase_wants_a_confirmation(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(["erase", FACTORY, "--store", database, "--user", "alice"], capsys)
    assert status == 2
    assert err.strip() == "chatkit: error: erase deletes everything user 'alice' owns and cannot be undone; add --yes"
    assert _left(database, "alice")[0] > 0


def test_export_writes_the_folder(database: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "export"
    status, report, _ = run(["export", FACTORY, "--store", database, "--user", "bob", "--to", str(out)], capsys)
    assert status == 0 and report["threads"] == 2 and report["files"] == 3
    assert sorted(path.name for path in out.iterdir()) == [
        "README.txt",
        "attachments.jsonl",
        "files",
        "items.jsonl",
        "manifest.json",
        "threads.jsonl",
    ]
    status, _, err = run(["export", FACTORY, "--store", database, "--user", "bob", "--to", str(out)], capsys)
    assert status == 2 and "is not empty" in err


def test_retention_by_store_url_removes_rows_and_says_files_stay(
    database: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, report, err = run(["retention", database, "--days", "0"], capsys)
    assert status == 0 and report["threads"] == 4 and report["files"] == 0
    assert "rows only" in err
    assert _left(database, "alice")[0] == 0


def test_bad_arguments_are_one_line_errors(database: str, capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run(["retention", database, "--days", "-1"], capsys)
    assert status == 2 and err.startswith("chatkit: error: --days")
    status, _, err = run(["retention", "memory:/", "--days", "1"], capsys)
    assert status == 2 and err.count("\n") == 1


class _QuickSweeper(RetentionSweeper):
    """The sweeper `--retain-days` builds, sweeping every 50 ms instead of every hour."""

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **{**options, "every": 0.05})


async def test_serve_retain_days_sweeps_in_the_apps_lifespan(database: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chatkit.data, "RetentionSweeper", _QuickSweeper)
    path = database.removeprefix("sqlite:///")
    app = build_app(FACTORY, database, policies=Policies(retain_days=0.0))
    async with SQLiteStore(path) as store:
        async with app.router.lifespan_context(app):
            for _ in range(100):
                if not await store.scopes():
                    break
                await asyncio.sleep(0.05)
        # The lifespan ended as soon as the rows were gone: the batch under way still took its files.
        assert await store.scopes() == []
    # Every file a record named is gone; what is left is the announcement never uploaded (no record
    # names it: erasure finds it by the tenant's key, retention does not look).
    assert await files_left(_files(), "alice") == 1 and await files_left(_files(), "bob") == 1


def test_serve_refuses_a_negative_retention(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["serve", FACTORY, "--store", "memory://", "--retain-days", "-2", "--port", "1"])
    assert status == 2
    assert capsys.readouterr().err.strip() == "chatkit: error: --retain-days must be zero or more, not -2"


@pytest.mark.parametrize("days", [None, 0.0, 30.0, 1.5])
def test_the_policies_reach_a_reloaded_worker_unchanged(days: float | None) -> None:
    policies = Policies("interrupt", "grace", 2.5, days)
    assert Policies.parse(policies.text()) == policies
