"""`ScriptedModel` with the Agents SDK run loop, streamed and not, and behind a ChatKit server."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from agents import Agent, RunConfig, Runner, function_tool

from chatkit.stores import MemoryStore
from chatkit.testing import ChatKitTestClient, Script, ScriptedModel
from tests.agents_bridge.support import AgentServer

NO_TRACING = RunConfig(tracing_disabled=True)


@function_tool
def forecast(city: str) -> str:
    """The weather in `city`."""
    return f"sunny in {city}"


async def test_a_tool_call_then_an_answer_with_runner_run() -> None:
    model = ScriptedModel(
        Script("resp_1").call("fc_1", "call_1", "forecast", {"city": "Oslo"}),
        Script("resp_2").text("msg_1", "It is ", "sunny."),
    )
    agent = Agent(name="Weather", instructions="Be brief.", model=model, tools=[forecast])
    result = await Runner.run(agent, "Weather in Oslo?", run_config=NO_TRACING)
    assert result.final_output == "It is sunny."
    assert model.instructions == ["Be brief.", "Be brief."]
    # The second call saw the tool's output: what the model was given is there to assert on.
    second = json.loads(json.dumps(model.inputs[1]))
    assert [item["output"] for item in second if item.get("type") == "function_call_output"] == ["sunny in Oslo"]


async def test_streamed_through_a_chatkit_server_the_text_arrives_in_its_deltas() -> None:
    model = ScriptedModel(Script().reasoning("rs_1", ["Thinking"]).text("msg_1", "Hel", "lo!"))
    server = AgentServer(MemoryStore(), Agent(name="Greeter", model=model))
    async with ChatKitTestClient.in_process(server, {"user_id": "alice"}) as client:
        turn = await client.send("Hi there")
    assert turn.text == "Hello!"
    assert turn.deltas == ["Hel", "lo!"]
    first = json.loads(json.dumps(model.inputs[0]))
    assert first[-1]["content"] == [{"type": "input_text", "text": "Hi there"}]


async def test_a_model_that_fails_mid_answer_ends_the_turn_with_an_error() -> None:
    model = ScriptedModel(Script().text("msg_1", "Half").fail(RuntimeError("the model broke")))
    server = AgentServer(MemoryStore(), Agent(name="Broken", model=model))
    async with ChatKitTestClient.in_process(server, {"user_id": "alice"}) as client:
        turn = await client.send("Hi")
    assert turn.error is not None and turn.error.allow_retry


async def test_one_call_too_many_fails_the_test_plainly() -> None:
    model = ScriptedModel(Script().text("msg_1", "Only once."))
    agent = Agent(name="Once", model=model)
    await Runner.run(agent, "first", run_config=NO_TRACING)
    with pytest.raises(AssertionError, match="called 2 times, with only 1 scripts"):
        await Runner.run(agent, "second", run_config=NO_TRACING)


async def test_a_planner_answers_each_call_from_its_input_at_its_pace() -> None:
    def echo(model_input: str | list[Any]) -> Script:
        heard = "again" if "again" in json.dumps(model_input) else "once"
        return Script().text("msg_1", "you ", "said ", heard, pace=0.01)

    model = ScriptedModel(planner=echo, record=False)
    agent = Agent(name="Echo", model=model)
    started = asyncio.get_running_loop().time()
    first = Runner.run_streamed(agent, "hello", run_config=NO_TRACING)
    async for _ in first.stream_events():
        pass
    assert asyncio.get_running_loop().time() - started >= 0.03, "the three deltas were not paced"
    second = await Runner.run(agent, "hello again", run_config=NO_TRACING)
    assert (first.final_output, second.final_output) == ("you said once", "you said again")
    assert (model.calls, model.inputs) == (2, []), "calls are counted, and not recorded when asked not to"
