"""`ChatKitTestClient` on both transports: the same calls, typed results, per-user clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from chatkit.asgi import create_app
from chatkit.attachments import LocalAttachmentStore
from chatkit.store import NotFoundError
from chatkit.stores import MemoryStore
from chatkit.testing import ChatKitRequestError, ChatKitTestClient
from chatkit.types import AssistantMessageItem, StructuredInputItem, UserMessageItem
from tests.asgi.conftest import user_context
from tests.asgi.scripted import ScriptedServer
from tests.http import serving

ClientFor = Callable[[str], Any]


@asynccontextmanager
async def clients(transport: str, server: ScriptedServer) -> AsyncIterator[ClientFor]:
    """A factory of per-user clients of `server` over `transport` (in process, ASGI app, live URL)."""
    made: list[ChatKitTestClient] = []
    app = create_app(server, context=user_context)
    async with serving(app) as url:

        def client_for(user: str) -> ChatKitTestClient:
            if transport == "in_process":
                client = ChatKitTestClient.in_process(server, {"user_id": user, "locale": None})
            elif transport == "app":
                client = ChatKitTestClient.for_app(app, headers={"x-user": user})
            else:
                client = ChatKitTestClient.for_url(url, headers={"x-user": user})
            made.append(client)
            return client

        try:
            yield client_for
        finally:
            for client in made:
                await client.aclose()


TRANSPORTS = ["in_process", "app", "url"]


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_a_conversation_through_the_client(transport: str) -> None:
    server = ScriptedServer(MemoryStore(), words=3)
    async with clients(transport, server) as client_for:
        alice = client_for("alice")
        first = await alice.send("hello")
        thread_id = first.thread_id
        assert thread_id is not None
        assert first.text == "hello:0 hello:1 hello:2 "
        assert [type(item) for item in first.items] == [UserMessageItem, AssistantMessageItem]
        assert first.error is None
        second = await alice.send("again", thread_id=thread_id)
        assert second.thread_id == thread_id and second.text.startswith("again:0")
        items = await alice.items(thread_id)
        assert [item.type for item in items] == ["user_message", "assistant_message"] * 2
        await alice.feedback(thread_id, [items[1].id], "positive")
        retried = await alice.retry(thread_id, items[0].id)
        assert retried.text.startswith(f"{items[0].id}:0") or retried.text.startswith("hello:0")
        renamed = await alice.threads.update(thread_id, "Greetings")
        assert renamed["title"] == "Greetings"
        assert [thread["id"] for thread in await alice.threads.list()] == [thread_id]
        assert (await alice.threads.get(thread_id))["title"] == "Greetings"
        await alice.threads.delete(thread_id)
        assert await alice.threads.list() == []


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_each_client_is_one_user(transport: str) -> None:
    server = ScriptedServer(MemoryStore(), words=2)
    async with clients(transport, server) as client_for:
        alice, bob = client_for("alice"), client_for("bob")
        thread_id = (await alice.send("mine")).thread_id
        assert thread_id is not None
        assert await bob.threads.list() == []
        refused = NotFoundError if transport == "in_process" else ChatKitRequestError
        with pytest.raises(refused):
            await bob.threads.get(thread_id)
        with pytest.raises(refused):
            await bob.send("yours?", thread_id=thread_id)
    if transport != "in_process":
        with pytest.raises(ChatKitRequestError) as refusal:
            async with ChatKitTestClient.for_app(create_app(server, context=user_context)) as anonymous:
                await anonymous.threads.list()
        assert refusal.value.status == 401


@pytest.mark.parametrize("transport", ["in_process", "url"])
async def test_stop_after_leaves_mid_answer_and_the_partial_answer_is_kept(transport: str) -> None:
    server = ScriptedServer(MemoryStore(), words=10, delay=0.05)
    async with clients(transport, server) as client_for:
        alice = client_for("alice")
        thread_id = (await alice.send("hi")).thread_id
        assert thread_id is not None
        cut = await alice.send("slow", thread_id=thread_id, stop_after=6)
        assert len(cut.frames) == 6
        saved = ""
        for _ in range(50):
            items = await alice.items(thread_id)
            if items[-1].type == "assistant_message" and items[-2].type == "user_message":
                saved = "".join(part.text for part in items[-1].content)  # type: ignore[union-attr]
                break
            await asyncio.sleep(0.05)
    words = "".join(f"slow:{index} " for index in range(10))
    assert saved and words.startswith(saved) and saved != words


@pytest.mark.parametrize("direct", [False, True])
@pytest.mark.parametrize("transport", ["app", "url"])
async def test_upload_sends_the_bytes_and_the_attachment_goes_with_a_message(
    transport: str, direct: bool, tmp_path: Path
) -> None:
    files: LocalAttachmentStore[Any] = LocalAttachmentStore(tmp_path / "files", secret="test-secret")
    server = ScriptedServer(MemoryStore(), files, words=1)
    async with clients(transport, server) as client_for:
        alice = client_for("alice")
        attachment = await alice.upload(b"meeting notes", "notes.txt", "text/plain", direct=direct)
        assert (attachment["name"], attachment["mime_type"]) == ("notes.txt", "text/plain")
        assert "upload_descriptor" not in attachment, "the bytes were not uploaded"
        turn = await alice.send("read this", attachments=[attachment["id"]])
        message = turn.items[0]
        assert isinstance(message, UserMessageItem)
        assert [sent.id for sent in message.attachments] == [attachment["id"]]


async def test_in_process_an_upload_is_registered_and_a_direct_one_refused(tmp_path: Path) -> None:
    # Outside a request the store needs its own base URL for the upload descriptor.
    files: LocalAttachmentStore[Any] = LocalAttachmentStore(
        tmp_path / "files", secret="test-secret", base_url="https://chat.example/chatkit"
    )
    server = ScriptedServer(MemoryStore(), files)
    client = ChatKitTestClient.in_process(server, {"user_id": "alice"})
    attachment = await client.upload(b"notes", "notes.txt", "text/plain")
    assert attachment["upload_descriptor"]["method"] in ("PUT", "POST")
    with pytest.raises(TypeError, match="/upload route"):
        await client.upload(b"notes", "notes.txt", "text/plain", direct=True)


@pytest.mark.parametrize("transport", TRANSPORTS)
async def test_structured_input_answers_the_pending_question(transport: str) -> None:
    server = ScriptedServer(MemoryStore(), words=1)
    async with clients(transport, server) as client_for:
        alice = client_for("alice")
        asked = await alice.send("ask me")
        assert asked.thread_id is not None
        question = asked.items[-1]
        assert isinstance(question, StructuredInputItem)
        answered = await alice.structured_input(asked.thread_id, question.id, {"q1": ["because"]})
        assert answered.error is None
        stored = await alice.items(asked.thread_id)
        assert any(isinstance(item, StructuredInputItem) and item.id == question.id for item in stored)


async def test_rejoin_follows_a_running_turn_and_stop_ends_one() -> None:
    server = ScriptedServer(MemoryStore(), words=20, delay=0.03)
    words = "".join(f"slow:{index} " for index in range(20))
    app = create_app(server, context=user_context, disconnect_policy="finish")
    async with serving(app) as url, ChatKitTestClient.for_url(url, headers={"x-user": "alice"}) as alice:
        thread_id = (await alice.send("hi")).thread_id
        assert thread_id is not None
        assert await alice.rejoin(thread_id) is None  # no turn runs

        left = await alice.send("slow", thread_id=thread_id, stop_after=4)
        rest = await alice.rejoin(thread_id, after=4)
        assert rest is not None and len(left.frames) == 4
        assert rest.text == words  # the turn went on without its client, and the rejoin saw it end

        running = asyncio.create_task(alice.send("slow", thread_id=thread_id))
        for _ in range(100):  # until the turn has started and the stop finds it
            if await alice.stop(thread_id):
                break
            await asyncio.sleep(0.02)
        else:
            pytest.fail("the turn never started")
        stopped = await running
        shown = "".join(stopped.deltas)  # a stopped answer is never finished: its deltas are what showed
        assert stopped.text == "" and shown and words.startswith(shown) and shown != words
        assert stopped.notices[-1].message == "Stopped."
        assert not await alice.stop(thread_id)

    in_process = ChatKitTestClient.in_process(server, {"user_id": "alice", "locale": None})
    with pytest.raises(TypeError, match="for_app or for_url"):
        await in_process.rejoin(thread_id)
