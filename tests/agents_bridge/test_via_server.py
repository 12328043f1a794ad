"""The bridge behind `ChatKitServer.process`, on every store backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from agents import Agent, RunContextWrapper, StopAtTools, function_tool

from chatkit.agents import AgentContext, ClientToolCall
from chatkit.testing import Script, ScriptedModel
from chatkit.types import CustomTask

from ..stores.backends import STORE_BACKENDS, make_store
from .support import CONTEXT, AgentServer, loose, send, user_input


@function_tool
async def locate(ctx: RunContextWrapper[AgentContext[Any]]) -> str:
    """Open a workflow, then ask the client where the user is."""
    await ctx.context.add_workflow_task(CustomTask(title="Locating", status_indicator="loading"))
    ctx.context.client_tool_call = ClientToolCall(name="get_location", arguments={})
    return "asked"


@pytest.mark.parametrize("backend", STORE_BACKENDS)
async def test_a_workflow_left_open_is_resumed_and_stored_once(backend: str, tmp_path: Path) -> None:
    model = ScriptedModel(
        Script("resp_1").call("fc_1", "call_1", "locate", {}).build(),
        Script("resp_2").text("msg_a", "You are in Paris.").build(),
    )
    agent = Agent(
        name="Assistant",
        model=model,
        tools=[locate],
        tool_use_behavior=StopAtTools(stop_at_tool_names=["locate"]),
    )
    async with make_store(backend, tmp_path) as store:
        server = AgentServer(store, agent)
        first = await send(server, "threads.create", input=user_input("Where am I?"))
        thread_id = first[0]["thread"]["id"]
        second = await send(server, "threads.add_client_tool_output", thread_id=thread_id, result={"city": "Paris"})
        stored = await store.load_thread_items(thread_id, None, 50, "asc", CONTEXT)

    assert [e["type"] for e in loose(first)] == [
        "thread.created",
        "thread.item.done",
        "stream_options",
        "thread.item.added",
        "thread.item.done",
    ]
    workflow_id = first[3]["item"]["id"]
    assert first[4]["item"]["status"] == "pending"
    ended = second[1]
    assert ended["type"] == "thread.item.done" and ended["item"]["id"] == workflow_id
    assert "duration" in ended["item"]["workflow"]["summary"]
    assert [(item.type, item.id) for item in stored.data] == [
        ("user_message", stored.data[0].id),
        ("workflow", workflow_id),
        ("client_tool_call", "fc_1"),
        ("assistant_message", "msg_a"),
    ]
    workflow = stored.data[1]
    assert workflow.type == "workflow" and workflow.workflow.summary is not None
    # The model saw the task the user was shown and the client's answer, paired with its call.
    assert model.inputs[1][-2:] == [
        {"type": "function_call", "call_id": "call_1", "name": "get_location", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_1", "output": '{"city": "Paris"}'},
    ]


async def test_an_exception_escaping_the_run_ends_the_turn_with_an_error_event() -> None:
    async def model_fails() -> None:
        raise RuntimeError("the model server went away")

    model = ScriptedModel(Script().text("msg_a", "Half an ans").step(model_fails).build())
    async with make_store("memory", Path()) as store:
        events = await send(
            AgentServer(store, Agent(name="Assistant", model=model)), "threads.create", input=user_input("Hi")
        )

    assert [e["type"] for e in events][:3] == ["thread.created", "thread.item.done", "stream_options"]
    assert events[-1] == {"type": "error", "code": "stream.error", "allow_retry": True}
