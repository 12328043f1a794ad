"""Shared helpers of the bridge tests: running an agent and comparing events with ids matched loosely."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from agents import Agent, RunConfig, Runner
from pydantic import BaseModel

from chatkit.agents import AgentContext, ThreadItemConverter, stream_agent_response
from chatkit.server import ChatKitServer, StreamingResult
from chatkit.store import Store
from chatkit.stores import MemoryStore
from chatkit.testing import ScriptedModel
from chatkit.types import ThreadMetadata, ThreadStreamEvent, UserMessageItem
from chatkit.types.wire import WIRE_CONTEXT

CONTEXT: dict[str, Any] = {"user_id": "alice"}
THREAD_ID = "thr_agents"

# Short ids (the reference's format) or the bundled stores' longer time-ordered ones.
_GENERATED_ID = re.compile(r"^(thr|msg|tc|wf|tsk|atc|shcx)_[0-9a-f]{8,}$")


async def memory_context(store: Store[Any] | None = None) -> AgentContext[dict[str, Any]]:
    """An AgentContext over a fresh thread in `store` (a new MemoryStore by default)."""
    store = store or MemoryStore()
    thread = ThreadMetadata(id=THREAD_ID, created_at=datetime(2025, 1, 1))
    await store.save_thread(thread, CONTEXT)
    return AgentContext(thread=thread, store=store, request_context=CONTEXT)


def agent(model: ScriptedModel, **fields: Any) -> Agent[AgentContext[dict[str, Any]]]:
    return Agent(name="Assistant", instructions="Be brief.", model=model, **fields)


async def run(context: AgentContext[Any], assistant: Agent[Any], text: str = "Hello", **options: Any) -> list[Any]:
    """The wire JSON of every event stream_agent_response yields for one streamed run."""
    result = Runner.run_streamed(
        assistant, text, context=context, run_config=RunConfig(tracing_disabled=True), **options
    )
    return loose([event async for event in stream_agent_response(context, result)])


def wire(event: BaseModel) -> Any:
    """The JSON the client receives for `event`."""
    return json.loads(event.model_dump_json(by_alias=True, exclude_none=True, context=WIRE_CONTEXT))


def loose(events: list[Any]) -> list[Any]:
    """Wire JSON with generated ids as <prefix#n> (numbered by first appearance) and times masked."""
    names: dict[str, str] = {}

    def rewrite(node: Any, key: str | None = None) -> Any:
        if isinstance(node, BaseModel):
            return rewrite(wire(node))
        if isinstance(node, dict):
            return {k: rewrite(v, k) for k, v in node.items()}
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        if key == "created_at":
            return "<ts>"
        if key == "duration":
            return "<seconds>"
        if isinstance(node, str) and _GENERATED_ID.match(node):
            prefix = node.split("_", 1)[0]
            if node not in names:
                names[node] = f"<{prefix}#{sum(v.startswith(f'<{prefix}#') for v in names.values()) + 1}>"
            return names[node]
        return node

    return [rewrite(event) for event in events]


async def collect(events: AsyncIterator[Any]) -> list[Any]:
    return [event async for event in events]


def message_events(item_id: str, *chunks: str) -> list[dict[str, Any]]:
    """The events of an assistant message streamed as `chunks`, without annotations."""
    text = "".join(chunks)
    message = {"id": item_id, "thread_id": THREAD_ID, "created_at": "<ts>", "type": "assistant_message"}
    part = {"annotations": [], "text": text, "type": "output_text"}
    return [
        {"type": "thread.item.added", "item": {**message, "content": []}},
        update(item_id, "assistant_message.content_part.added", content_index=0, content={**part, "text": ""}),
        *[update(item_id, "assistant_message.content_part.text_delta", content_index=0, delta=c) for c in chunks],
        update(item_id, "assistant_message.content_part.done", content_index=0, content=part),
        {"type": "thread.item.done", "item": {**message, "content": [part]}},
    ]


def update(item_id: str, update_type: str, **fields: Any) -> dict[str, Any]:
    return {"type": "thread.item.updated", "item_id": item_id, "update": {"type": update_type, **fields}}


class AgentServer(ChatKitServer[dict[str, Any]]):
    """Answers every turn by running `agent` over the whole thread."""

    def __init__(
        self, store: Store[dict[str, Any]], agent: Agent[Any], converter: ThreadItemConverter | None = None
    ) -> None:
        super().__init__(store)
        self.agent = agent
        self.converter = converter or ThreadItemConverter()

    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: dict[str, Any]
    ) -> AsyncIterator[ThreadStreamEvent]:
        items = await self.store.load_thread_items(thread.id, None, 100, "asc", context)
        agent_context = AgentContext(thread=thread, store=self.store, request_context=context)
        result = Runner.run_streamed(
            self.agent,
            await self.converter.to_agent_input(items.data),
            context=agent_context,
            run_config=RunConfig(tracing_disabled=True),
        )
        async for event in stream_agent_response(agent_context, result):
            yield event


async def send(server: ChatKitServer[Any], request_type: str, **params: Any) -> list[Any]:
    result = await server.process(json.dumps({"type": request_type, "params": params}), CONTEXT)
    assert isinstance(result, StreamingResult)
    return [json.loads(frame[len(b"data: ") :]) async for frame in result]


def user_input(text: str) -> dict[str, Any]:
    return {"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}}
