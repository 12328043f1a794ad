"""A customer-support bot: FastAPI, PostgreSQL, an order-status widget and a client tool.

Run it (PostgreSQL must be reachable; the tables are created on start-up):

    pip install "chatkit-server[serve,postgres]" fastapi
    export DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres
    export OPENAI_API_KEY=sk-...          # or OPENAI_BASE_URL=... for an OpenAI-compatible server
    uvicorn app:app --port 8000

Every request must carry an `X-User-Id` header: a stand-in for your real authentication.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents import (
    Agent,
    Model,
    OpenAIChatCompletionsModel,
    RunConfig,
    RunContextWrapper,
    Runner,
    StopAtTools,
    TResponseInputItem,
    function_tool,
)
from fastapi import FastAPI
from openai import AsyncOpenAI
from starlette.requests import Request

from chatkit.actions import Action
from chatkit.agents import AgentContext, ClientToolCall, ThreadItemConverter, stream_agent_response
from chatkit.asgi import HTTPAuthError, create_app
from chatkit.server import ChatKitServer
from chatkit.stores import PostgresStore
from chatkit.types import (
    AssistantMessageItem,
    ThreadItemReplacedEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
    WidgetItem,
)
from chatkit.widgets import DynamicWidgetRoot, WidgetTemplate

ORDER_CARD = WidgetTemplate.from_file(str(Path(__file__).with_name("order_card.widget")))
SUBSCRIBE_ACTION = "support.subscribe"
TRACKING_TOOL = "open_tracking_page"

# A stand-in for the shop's order system.
ORDERS = {
    "1234": {"status": "Shipped", "color": "success", "summary": "2 items, shipped on 3 March with ParcelCo."},
    "5678": {"status": "Preparing", "color": "warning", "summary": "1 item, leaves the warehouse tomorrow."},
}


@dataclass
class RequestContext:
    """Who is asking: the stores scope every thread to `user_id`."""

    user_id: str


def order_card(order_id: str, note: str = "") -> DynamicWidgetRoot:
    """The order-status card for `order_id`, built from `order_card.widget`."""
    order = ORDERS.get(order_id, {"status": "Unknown", "color": "danger", "summary": "No order with this number."})
    return ORDER_CARD.build({"order_id": order_id, "note": note, **order})


@function_tool
async def lookup_order(ctx: RunContextWrapper[AgentContext[RequestContext]], order_id: str) -> str:
    """Look an order up and show its status card to the customer.

    Args:
        order_id: The order number the customer gave.
    """
    await ctx.context.stream_widget(order_card(order_id), copy_text=f"Order {order_id}")
    order = ORDERS.get(order_id)
    return f"Order {order_id}: {order['status']}, {order['summary']}" if order else f"No order {order_id}."


@function_tool(name_override=TRACKING_TOOL)
async def open_tracking_page(ctx: RunContextWrapper[AgentContext[RequestContext]], order_id: str) -> str:
    """Open the carrier's tracking page in the customer's browser.

    Args:
        order_id: The order to track.
    """
    # The browser runs this tool; its result comes back with the next request.
    ctx.context.client_tool_call = ClientToolCall(name=TRACKING_TOOL, arguments={"order_id": order_id})
    return "Asked the browser to open the tracking page."


def build_model() -> Model | str:
    """The OpenAI model by default; any OpenAI-compatible server when `OPENAI_BASE_URL` is set."""
    name = os.environ.get("SUPPORT_MODEL", "gpt-4.1-mini")
    if not os.environ.get("OPENAI_BASE_URL"):
        return name
    client = AsyncOpenAI(api_key=os.environ.get("OPENAI_API_KEY") or "unused")
    return OpenAIChatCompletionsModel(model=name, openai_client=client)


class PlainTextConverter(ThreadItemConverter):
    """Replays the assistant's earlier answers as plain strings.

    The default form (`output_text` parts) suits the OpenAI Responses API, but the Agents SDK's
    Chat Completions model rejects it; a plain string suits both.
    """

    async def assistant_message_to_input(self, item: AssistantMessageItem) -> TResponseInputItem:
        """The assistant's text as one plain assistant message."""
        return {"role": "assistant", "content": "".join(part.text for part in item.content)}


class SupportServer(ChatKitServer[RequestContext]):
    """Answers customers with an agent that can look orders up and open tracking pages."""

    def __init__(self, store: PostgresStore, model: Model | str) -> None:
        super().__init__(store)
        self.agent = Agent[AgentContext[RequestContext]](
            name="Support",
            instructions="You help customers of a small shop with their orders. Be brief and friendly.",
            model=model,
            tools=[lookup_order, open_tracking_page],
            # The client tool's result arrives in a later request, so the run ends at the call.
            tool_use_behavior=StopAtTools(stop_at_tool_names=[TRACKING_TOOL]),
        )
        self.converter = PlainTextConverter()
        # Traces go to the OpenAI platform, which another provider's key cannot reach.
        self.run_config = RunConfig(tracing_disabled=bool(os.environ.get("OPENAI_BASE_URL")))

    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: RequestContext
    ) -> AsyncIterator[ThreadStreamEvent]:
        """Run the agent over the newest items of the thread."""
        page = await self.store.load_thread_items(thread.id, None, 30, "desc", context)
        agent_input = await self.converter.to_agent_input(list(reversed(page.data)))
        agent_context = AgentContext[RequestContext](thread=thread, store=self.store, request_context=context)
        result = Runner.run_streamed(self.agent, agent_input, context=agent_context, run_config=self.run_config)
        async for event in stream_agent_response(agent_context, result):
            yield event

    async def action(
        self, thread: ThreadMetadata, action: Action[str, Any], sender: WidgetItem | None, context: RequestContext
    ) -> AsyncIterator[ThreadStreamEvent]:
        """The card's button: subscribe to updates and say so on the card."""
        if action.type != SUBSCRIBE_ACTION or sender is None:
            return
        order_id = str((action.payload or {}).get("order_id", ""))
        card = order_card(order_id, note="We will email you when it moves.")
        yield ThreadItemReplacedEvent(item=sender.model_copy(update={"widget": card}))


def request_context(request: Request) -> RequestContext:
    """Who is calling; replace this with your authentication."""
    user_id = request.headers.get("x-user-id")
    if not user_id:
        raise HTTPAuthError(401, "send an X-User-Id header")
    return RequestContext(user_id=user_id)


store = PostgresStore(
    os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
    schema=os.environ.get("SUPPORT_SCHEMA", "support_bot"),
)
server = SupportServer(store, build_model())


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Opening at start-up creates or migrates the schema and reports a bad DATABASE_URL at once.
    async with store:
        yield


app = FastAPI(title="Support bot", lifespan=lifespan)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    """A liveness probe for the load balancer."""
    return {"status": "ok"}


# Mounted last, so the routes above take precedence.
app.mount("/", create_app(server, context=request_context))
