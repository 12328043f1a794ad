"""Tests of the getting-started server with `chatkit.testing`: in process, through the FastAPI app, and
with the pytest plugin's fixtures (`chatkit_server = app:make_server` in `pytest.ini`)."""

from __future__ import annotations

import pytest
from app import GreetingServer, RequestContext, app

from chatkit.stores import MemoryStore
from chatkit.testing import ChatKitTestClient


@pytest.mark.asyncio
async def test_the_server_greets_the_user_in_process() -> None:
    async with ChatKitTestClient.in_process(GreetingServer(MemoryStore()), RequestContext("ada")) as ada:
        turn = await ada.send("Hello")
        assert turn.text == "Hi there, ada!"
        assert [thread["id"] for thread in await ada.threads.list()] == [turn.thread_id]


@pytest.mark.asyncio
async def test_the_fastapi_endpoint_serves_each_user_their_own_threads(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.chdir(tmp_path)  # the app's SQLite file goes here
    async with (
        ChatKitTestClient.for_app(app, headers={"x-user-id": "ada"}) as ada,
        ChatKitTestClient.for_app(app, headers={"x-user-id": "grace"}) as grace,
    ):
        first = await ada.send("Hello")
        assert first.text == "Hi there, ada!"
        assert first.thread_id is not None
        second = await ada.send("Again", thread_id=first.thread_id)
        assert second.text == "Hi there, ada!"
        assert len(await ada.items(first.thread_id)) == 4
        assert await grace.threads.list() == []


@pytest.mark.asyncio
async def test_the_fixtures_need_only_the_server_named(chatkit_client) -> None:  # noqa: ANN001
    turn = await chatkit_client.send("Hello")
    assert turn.text == "Hi there, test-user!"
