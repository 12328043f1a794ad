"""The demo assistant: an Agents SDK agent with a progress tool, a widget tool and a client tool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from agents import Agent, Model, RunConfig, RunContextWrapper, Runner, StopAtTools, function_tool

from chatkit._json import json_array, json_object
from chatkit.actions import Action
from chatkit.agents import AgentContext, ClientToolCall, ThreadItemConverter, stream_agent_response
from chatkit.demo.model import CLIENT_TOOL, RESEARCH_TOOL, WIDGET_TOOL
from chatkit.errors import CustomStreamError
from chatkit.server import ChatKitServer
from chatkit.store import AttachmentStore, Store
from chatkit.types import (
    CustomSummary,
    CustomTask,
    ThreadItemReplacedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
    WidgetItem,
    Workflow,
)
from chatkit.widgets import DynamicWidgetRoot, WidgetTemplate

DemoContext = dict[str, Any]
"""The demo's request context: `{"user_id": ...}`, enough for the stores to scope data."""

PRESS_ACTION = "demo.press"
HISTORY_LIMIT = 40
TITLE_LENGTH = 60
LOGO_URL = "/playground/logo.svg"

INSTRUCTIONS = f"""You are the assistant of the ChatKit server demo. Keep answers short and use Markdown.
For a question, first call `{RESEARCH_TOOL}` with its topic, then `{WIDGET_TOOL}` with a title and three
short points, then answer. When the user asks about their browser, local time, time zone or language,
call `{CLIENT_TOOL}`: it runs in the user's browser and its result comes back to you."""

_SUMMARY_CARD = WidgetTemplate.from_file(str(Path(__file__).with_name("summary_card.widget")))
_RESEARCH_STEPS = ("Reading the question", "Searching the demo notes", "Drafting the answer")


def summary_card(title: str, points: list[str], presses: int = 0, badge: str = "demo") -> DynamicWidgetRoot:
    """The demo's summary card, built from `summary_card.widget`."""
    if presses == 0:
        status = "Not pressed yet."
    else:
        times = "once" if presses == 1 else f"{presses} times"
        status = f"Pressed {times}, handled by `DemoServer.action` on the server."
    return _SUMMARY_CARD.build(
        {"title": title, "badge": badge, "image": LOGO_URL, "points": points, "presses": presses, "status": status}
    )


def build_agent(model: Model | str, *, pace: float = 0.3) -> Agent[AgentContext[DemoContext]]:
    """The demo agent; `pace` is how long each research step takes, in seconds."""

    @function_tool(name_override=RESEARCH_TOOL)
    async def research_topic(ctx: RunContextWrapper[AgentContext[DemoContext]], topic: str) -> str:
        """Research a topic in the demo notes, showing progress and a workflow while it runs.

        Args:
            topic: What to research, in a few words.
        """
        context = ctx.context
        await context.stream_progress("search", f"Researching “{topic}”…")
        await context.start_workflow(Workflow(type="custom", tasks=[]))
        for index, title in enumerate(_RESEARCH_STEPS):
            await context.add_workflow_task(CustomTask(title=title, status_indicator="loading"))
            await asyncio.sleep(pace)
            await context.update_workflow_task(CustomTask(title=title, status_indicator="complete"), index)
        await context.end_workflow(CustomSummary(title="Researched the demo notes", icon="search"))
        return (
            f"Notes on {topic}: ChatKit servers stream events over server-sent events, persist every item "
            "in a store, keep a stopped answer as it stood, and render widgets built from templates."
        )

    @function_tool(name_override=WIDGET_TOOL)
    async def show_summary_card(
        ctx: RunContextWrapper[AgentContext[DemoContext]], title: str, points: list[str]
    ) -> str:
        """Show the user a card summarising the answer, with a button the server handles.

        Args:
            title: The card's title, a few words.
            points: Three short points to list on the card.
        """
        await ctx.context.stream_widget(summary_card(title, points), copy_text="\n".join(points))
        return "The summary card is on the user's screen."

    @function_tool(name_override=CLIENT_TOOL)
    async def get_browser_info(ctx: RunContextWrapper[AgentContext[DemoContext]]) -> str:
        """Ask the user's browser for its language, time zone and local time."""
        ctx.context.client_tool_call = ClientToolCall(name=CLIENT_TOOL, arguments={})
        return "Asked the browser."

    return Agent[AgentContext[DemoContext]](
        name="ChatKit demo assistant",
        instructions=INSTRUCTIONS,
        model=model,
        tools=[research_topic, show_summary_card, get_browser_info],
        # The client tool's answer comes in a later request, so the run ends at the call.
        tool_use_behavior=StopAtTools(stop_at_tool_names=[CLIENT_TOOL]),
    )


class DemoServer(ChatKitServer[DemoContext]):
    """The demo's ChatKit server: runs the demo agent on the thread's history."""

    def __init__(
        self,
        store: Store[DemoContext],
        attachment_store: AttachmentStore[DemoContext] | None = None,
        *,
        model: Model | str,
        converter: ThreadItemConverter | None = None,
        pace: float = 0.3,
        tracing: bool = True,
    ) -> None:
        super().__init__(store, attachment_store)
        self.agent = build_agent(model, pace=pace)
        self.converter = converter or ThreadItemConverter()
        self.run_config = RunConfig(tracing_disabled=not tracing)

    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: DemoContext
    ) -> AsyncIterator[ThreadStreamEvent]:
        """Answer the newest message (or client tool output) with the demo agent."""
        if thread.title is None and input_user_message is not None:
            thread.title = _title_of(input_user_message)
        page = await self.store.load_thread_items(thread.id, None, HISTORY_LIMIT, "desc", context)
        agent_input = await self.converter.to_agent_input(list(reversed(page.data)))
        agent_context = AgentContext[DemoContext](thread=thread, store=self.store, request_context=context)
        result = Runner.run_streamed(self.agent, agent_input, context=agent_context, run_config=self.run_config)
        async for event in stream_agent_response(agent_context, result):
            yield event

    async def action(
        self, thread: ThreadMetadata, action: Action[str, Any], sender: WidgetItem | None, context: DemoContext
    ) -> AsyncIterator[ThreadStreamEvent]:
        """Count a press of the summary card's button by redrawing the card."""
        if action.type != PRESS_ACTION or sender is None:
            raise CustomStreamError(f"The demo has no action {action.type!r} for this item.")
        payload = json_object(action.payload) or {}
        widget = summary_card(
            title=str(payload.get("title", "Summary")),
            points=[str(point) for point in json_array(payload.get("points")) or []],
            presses=int(payload.get("presses", 0)) + 1,
        )
        yield ThreadItemReplacedEvent(item=sender.model_copy(update={"widget": widget}))


def _title_of(message: UserMessageItem) -> str:
    text = " ".join(part.text for part in message.content if part.type == "input_text").strip()
    if not text:
        return "New conversation"
    return text if len(text) <= TITLE_LENGTH else text[: TITLE_LENGTH - 1].rstrip() + "…"
