"""agent-framework-chatkit on chatkit-server: two turns of a Microsoft Agent Framework agent over a scripted model.

The server follows the package's documented wiring: a `ChatKitServer` subclass whose `respond`
loads the thread, converts it with `simple_to_agent_input`, runs the agent with `stream=True`
and turns the updates into ChatKit events with `stream_agent_response`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from typing import Any

from agent_framework import (
    Agent,
    BaseChatClient,
    ChatResponse,
    ChatResponseUpdate,
    Content,
    FunctionInvocationLayer,
    Message,
    ResponseStream,
)
from agent_framework_chatkit import simple_to_agent_input, stream_agent_response

from _report import expect, report
from _turns import call, done_items, stream, types_of, user_message
from chatkit.server import ChatKitServer
from chatkit.stores import MemoryStore
from chatkit.types import ThreadMetadata, ThreadStreamEvent, UserMessageItem

Context = dict[str, Any]
USER: Context = {"user_id": "ada"}


class ScriptedChatClient(FunctionInvocationLayer, BaseChatClient):
    """A chat model that streams the next scripted reply in chunks and records what it was sent."""

    def __init__(self, replies: list[list[str]]) -> None:
        super().__init__()
        self.replies = replies
        self.seen: list[list[tuple[str, str]]] = []

    def _inner_get_response(
        self, *, messages: Sequence[Message], stream: bool, options: Mapping[str, Any], **kwargs: Any
    ) -> Any:
        self.seen.append([(str(message.role), message.text) for message in messages])
        chunks = self.replies.pop(0)
        if not stream:
            return self._whole(chunks)
        return ResponseStream(self._chunks(chunks), finalizer=ChatResponse.from_updates)

    async def _whole(self, chunks: list[str]) -> ChatResponse:
        return ChatResponse(messages=[Message(role="assistant", contents=[Content.from_text(text="".join(chunks))])])

    async def _chunks(self, chunks: list[str]) -> AsyncIterable[ChatResponseUpdate]:
        for chunk in chunks:
            yield ChatResponseUpdate(role="assistant", contents=[Content.from_text(text=chunk)])


class AgentFrameworkServer(ChatKitServer[Context]):
    """The integration as the package's README writes it."""

    def __init__(self, agent: Agent) -> None:
        super().__init__(MemoryStore())
        self.agent = agent

    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: Context
    ) -> AsyncIterator[ThreadStreamEvent]:
        if input_user_message is None:
            return
        page = await self.store.load_thread_items(thread.id, None, 1000, "asc", context)
        messages = await simple_to_agent_input(page.data)
        async for event in stream_agent_response(self.agent.run(messages, stream=True), thread.id):
            yield event


async def main() -> None:
    """Run the conversation and check every event the client would see."""
    model = ScriptedChatClient([["Hello", ", Ada", "!"], ["Paris", " is the capital."]])
    server = AgentFrameworkServer(Agent(client=model, instructions="Answer briefly."))

    first = await stream(server, user_message("Hi, I am Ada"), USER)
    expect(types_of(first)[0] == "thread.created", f"first turn began with {types_of(first)[:1]}")
    thread_id = first[0]["thread"]["id"]
    deltas = [e["update"]["delta"] for e in first if e["type"] == "thread.item.updated"]
    expect(deltas == ["Hello", ", Ada", "!"], f"text deltas were {deltas}")
    answers = done_items(first, "assistant_message")
    expect(len(answers) == 1 and answers[0]["content"][0]["text"] == "Hello, Ada!", f"answer was {answers}")

    second = await stream(server, user_message("What is the capital of France?", thread_id), USER)
    answers = done_items(second, "assistant_message")
    expect(answers[-1]["content"][0]["text"] == "Paris is the capital.", f"second answer was {answers}")
    texts = [text for _, text in model.seen[-1]]
    expect(
        texts[-3:] == ["Hi, I am Ada", "Hello, Ada!", "What is the capital of France?"],
        f"the model was sent {model.seen[-1]}",
    )

    listed = await call(server, {"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}}, USER)
    kinds = [item["type"] for item in listed["data"]]
    expect(kinds == ["user_message", "assistant_message"] * 2, f"the thread holds {kinds}")
    report("agent-framework-chatkit", f"2 turns, {len(first) + len(second)} events, {len(kinds)} stored items")


if __name__ == "__main__":
    asyncio.run(main())
