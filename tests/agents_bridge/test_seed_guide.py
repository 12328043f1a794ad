"""The guide this project started from (spec/seed/000_3e40847341389b51.txt) runs as written.

The bodies of `respond` and of the `load_document` tool are the guide's code, verbatim; only the
hosted model is replaced by a scripted one and the guide's `get_document_by_id` is defined here.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from agents import (
    Agent,
    GuardrailFunctionOutput,
    InputGuardrail,
    InputGuardrailTripwireTriggered,
    OutputGuardrailTripwireTriggered,
    RunContextWrapper,
    Runner,
    function_tool,
)

from chatkit.agents import AgentContext, simple_to_agent_input, stream_agent_response
from chatkit.server import ChatKitServer, StreamingResult
from chatkit.stores import MemoryStore
from chatkit.testing import Script, ScriptedModel
from chatkit.types import ErrorEvent, ProgressUpdateEvent, ThreadMetadata, ThreadStreamEvent, UserMessageItem

from .support import loose, message_events


@dataclass
class MyRequestContext:
    user_id: str


async def get_document_by_id(document_id: str) -> str:
    return f"Document {document_id}: quarterly revenue grew 12%."


@function_tool()
async def load_document(ctx: RunContextWrapper[AgentContext], document_id: str):
    await ctx.context.stream(ProgressUpdateEvent(icon="document", text="Loading document..."))
    return await get_document_by_id(document_id)


def guide_server(assistant_agent: Agent[Any]) -> ChatKitServer[MyRequestContext]:
    """The guide's server, answering with `assistant_agent`."""

    class MyChatKitServer(ChatKitServer[MyRequestContext]):
        # The guide names the user message `input`; the base class calls it `input_user_message`.
        async def respond(  # pyright: ignore[reportIncompatibleMethodOverride]
            self,
            thread: ThreadMetadata,
            input: UserMessageItem | None,
            context: MyRequestContext,
        ) -> AsyncIterator[ThreadStreamEvent]:
            items_page = await self.store.load_thread_items(
                thread.id,
                after=None,
                limit=20,  # Tune this limit based on your model/context budget.
                order="desc",
                context=context,
            )
            items = list(reversed(items_page.data))

            input_items = await simple_to_agent_input(items)

            agent_context = AgentContext(
                thread=thread,
                store=self.store,
                request_context=context,
            )

            result = Runner.run_streamed(
                assistant_agent,
                input_items,
                context=agent_context,
            )

            try:
                async for event in stream_agent_response(agent_context, result):
                    yield event
            except InputGuardrailTripwireTriggered:
                yield ErrorEvent(message="We blocked that message for safety.")
            except OutputGuardrailTripwireTriggered:
                yield ErrorEvent(
                    message="The assistant response was blocked.",
                    allow_retry=False,
                )

    return MyChatKitServer(MemoryStore())


async def create_thread(server: ChatKitServer[MyRequestContext], text: str) -> list[Any]:
    body = {
        "type": "threads.create",
        "params": {
            "input": {"content": [{"type": "input_text", "text": text}], "attachments": [], "inference_options": {}}
        },
    }
    result = await server.process(json.dumps(body).encode(), MyRequestContext(user_id="abc123"))
    assert isinstance(result, StreamingResult)
    return [json.loads(frame.removeprefix(b"data: ")) async for frame in result]


async def test_the_guide_answers_with_a_tool_streaming_progress() -> None:
    model = ScriptedModel(
        Script("resp_1").call("fc_1", "call_1", "load_document", {"document_id": "doc_7"}).build(),
        Script("resp_2").text("msg_a", "Revenue grew ", "12%.").build(),
    )
    server = guide_server(Agent(name="Assistant", model=model, tools=[load_document]))

    events = await create_thread(server, "Summarize doc 7")

    thread_id = events[0]["thread"]["id"]
    assert [e["type"] for e in events[:3]] == ["thread.created", "thread.item.done", "stream_options"]
    expected_message = [
        {**e, "item": {**e["item"], "thread_id": thread_id}} if "item" in e else e
        for e in message_events("msg_a", "Revenue grew ", "12%.")
    ]
    assert loose(events[3:]) == [
        {"type": "progress_update", "icon": "document", "text": "Loading document..."},
        *loose(expected_message),
    ]
    tool_output = model.inputs[1][-1]
    assert tool_output == {
        "call_id": "call_1",
        "output": "Document doc_7: quarterly revenue grew 12%.",
        "type": "function_call_output",
    }
    stored = await server.store.load_thread_items(thread_id, None, 20, "asc", MyRequestContext(user_id="abc123"))
    assert [item.type for item in stored.data] == ["user_message", "assistant_message"]


async def test_the_guide_turns_a_tripped_guardrail_into_an_error_event() -> None:
    saw_text, tripped = asyncio.Event(), asyncio.Event()

    async def guard(ctx: Any, agent: Any, user_input: Any) -> GuardrailFunctionOutput:
        await saw_text.wait()
        tripped.set()
        return GuardrailFunctionOutput(output_info=None, tripwire_triggered=True)

    async def text_seen_then_tripped() -> None:
        saw_text.set()
        await tripped.wait()
        for _ in range(10):
            await asyncio.sleep(0)

    script = Script().text("msg_a", "Sure, ", "here").build()
    model = ScriptedModel([*script[:4], text_seen_then_tripped, *script[4:]])
    assistant = Agent(name="Assistant", model=model, input_guardrails=[InputGuardrail(guardrail_function=guard)])

    events = await create_thread(guide_server(assistant), "Something unsafe")

    assert events[-2:] == [
        {"type": "thread.item.removed", "item_id": "msg_a"},
        {"type": "error", "code": "custom", "message": "We blocked that message for safety.", "allow_retry": False},
    ]
