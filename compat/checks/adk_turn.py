"""adk-chatkit on chatkit-server: a Google ADK agent over a scripted model, with a tool that streams a widget.

The server follows the package's README: an `ADKChatKitServer` subclass whose `_adk_respond`
runs the ADK `Runner` with a `ChatkitRunConfig` and forwards `stream_agent_response`; the
thread lives in an `ADKStore` over ADK's in-memory session service.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncGenerator, AsyncIterator
from typing import ClassVar

from adk_chatkit import (
    ADKAgentContext,
    ADKChatKitServer,
    ADKContext,
    ADKStore,
    ChatkitRunConfig,
    stream_agent_response,
    stream_widget,
)
from google.adk.agents import LlmAgent

# ADK's documented import path; the module re-exports the enum without listing it in __all__.
from google.adk.agents.run_config import StreamingMode  # pyright: ignore[reportPrivateImportUsage]
from google.adk.models.base_llm import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import Runner
from google.adk.sessions import InMemorySessionService
from google.adk.tools.tool_context import ToolContext
from google.genai import types as genai

from _report import expect, report
from _turns import call, done_items, stream, types_of, user_message
from chatkit.types import ThreadMetadata, ThreadStreamEvent, UserMessageItem, UserMessageTextContent
from chatkit.widgets import Card, Text

APP = "compat-check"
USAGE = genai.GenerateContentResponseUsageMetadata(prompt_token_count=1, candidates_token_count=1, total_token_count=2)
USER = ADKContext(app_name=APP, user_id="ada")


class ScriptedLlm(BaseLlm):
    """Asks for the weather tool when the last turn is the user's, then streams an answer in two chunks."""

    model: str = "scripted"
    requests: ClassVar[list[list[str]]] = []

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        self.requests.append([str(content.role) for content in llm_request.contents])
        last = llm_request.contents[-1]
        if last.role == "user" and not any(part.function_response for part in last.parts or []):
            call_part = genai.Part.from_function_call(name="show_weather", args={"city": "Paris"})
            yield LlmResponse(content=genai.Content(role="model", parts=[call_part]), usage_metadata=USAGE)
            return
        for chunk in ("Sunny", " in Paris."):
            content = genai.Content(role="model", parts=[genai.Part.from_text(text=chunk)])
            yield LlmResponse(content=content, partial=True, usage_metadata=USAGE)
        whole = genai.Part.from_text(text="Sunny in Paris.")
        final = genai.Content(role="model", parts=[whole])
        yield LlmResponse(content=final, partial=False, turn_complete=True, usage_metadata=USAGE)


async def show_weather(city: str, tool_context: ToolContext) -> dict[str, str]:
    """Show the weather for a city as a card."""
    with warnings.catch_warnings():
        # Building named widgets in code is deprecated in favour of .widget templates, in the
        # reference as here; adk-chatkit's own examples still build them so.
        warnings.simplefilter("ignore", DeprecationWarning)
        card = Card(children=[Text(id="forecast", value=f"{city}: sunny")])
    await stream_widget(card, tool_context)
    return {"forecast": "sunny"}


class WeatherServer(ADKChatKitServer):
    """The integration as adk-chatkit's README writes it."""

    def __init__(self, store: ADKStore, runner: Runner) -> None:
        super().__init__(store)
        self.runner = runner

    async def _adk_respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: ADKContext
    ) -> AsyncIterator[ThreadStreamEvent]:
        if input_user_message is None:
            return
        text = "".join(part.text for part in input_user_message.content if isinstance(part, UserMessageTextContent))
        agent_context = ADKAgentContext(app_name=context.app_name, user_id=context.user_id, thread=thread)
        events = self.runner.run_async(
            user_id=context.user_id,
            session_id=thread.id,
            new_message=genai.Content(role="user", parts=[genai.Part.from_text(text=text)]),
            run_config=ChatkitRunConfig(streaming_mode=StreamingMode.SSE, context=agent_context),
        )
        async for event in stream_agent_response(agent_context, events):
            yield event


async def main() -> None:
    """Run one turn with a tool call, then read the thread back."""
    sessions = InMemorySessionService()
    agent = LlmAgent(name="weather", model=ScriptedLlm(), instruction="Use the tool.", tools=[show_weather])
    server = WeatherServer(ADKStore(sessions), Runner(app_name=APP, agent=agent, session_service=sessions))

    events = await stream(server, user_message("Weather in Paris?"), USER)
    kinds = types_of(events)
    expect(kinds[0] == "thread.created", f"the turn began with {kinds[:1]}")
    thread_id = events[0]["thread"]["id"]
    widgets = done_items(events, "widget")
    expect(len(widgets) == 1, f"widget items done: {widgets}")
    expect(widgets[0]["widget"]["children"][0]["value"] == "Paris: sunny", f"the widget was {widgets[0]['widget']}")
    answers = [item["content"][0]["text"] for item in done_items(events, "assistant_message")]
    expect(answers[-1:] == ["Sunny in Paris."], f"assistant messages done: {answers}")
    expect(len(ScriptedLlm.requests) == 2, f"the model was called {len(ScriptedLlm.requests)} times")

    listed = await call(server, {"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}}, USER)
    stored = [item["type"] for item in listed["data"]]
    expect(stored[0] == "user_message" and "widget" in stored, f"the session reads back as {stored}")
    expect(stored[-1] == "assistant_message", f"the session reads back as {stored}")
    threads = await call(server, {"type": "threads.list", "params": {}}, USER)
    expect([thread["id"] for thread in threads["data"]] == [thread_id], f"threads listed: {threads}")
    report("adk-chatkit", f"1 turn with a widget tool, {len(events)} events, stored {stored}")


if __name__ == "__main__":
    asyncio.run(main())
