"""mcp-chatkit-widget on chatkit-server: a `.widget` definition becomes an MCP tool and a widget in a thread.

The package's documented builders load a definition (`load_widgets`), register it as a FastMCP
tool (`generate_widget_tools`) and render it with validated arguments (`render_widget_definition`).
A scripted model picks the tool; the server streams the rendered widget with `stream_widget`.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

from fastmcp import Client, FastMCP
from fastmcp.exceptions import ToolError
from mcp_chatkit_widget import generate_widget_tools, load_widgets, render_widget_definition
from mcp_chatkit_widget.widget_loader import WidgetDefinition

from _report import expect, report
from _turns import call, done_items, stream, user_message
from chatkit.server import ChatKitServer, stream_widget
from chatkit.stores import MemoryStore
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ThreadItemDoneEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
)

Context = dict[str, Any]
USER: Context = {"user_id": "ada"}

# A definition in the ChatKit Studio export format the package reads: a JSON schema for the
# arguments and a Jinja template that renders to widget JSON.
FORECAST = {
    "name": "Forecast Card",
    "version": "1.0",
    "jsonSchema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "celsius": {"type": "number"}},
        "required": ["city", "celsius"],
        "additionalProperties": False,
    },
    "outputJsonPreview": {"type": "Card", "children": []},
    "template": (
        '{"type": "Card", "size": "sm", "children": ['
        '{"type": "Title", "value": {{ city | tojson }}},'
        '{"type": "Text", "value": "{{ celsius }} °C"}]}'
    ),
}
EXPECTED_WIDGET = {
    "type": "Card",
    "size": "sm",
    "children": [{"type": "Title", "value": "Paris"}, {"type": "Text", "value": "21.0 °C"}],
}


class WidgetToolServer(ChatKitServer[Context]):
    """Answers every message by calling the one widget tool the scripted model chooses, then a sentence."""

    def __init__(self, definition: WidgetDefinition, arguments: dict[str, Any]) -> None:
        super().__init__(MemoryStore())
        self.definition = definition
        self.arguments = arguments

    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: Context
    ) -> AsyncIterator[ThreadStreamEvent]:
        widget = render_widget_definition(self.definition, **self.arguments)
        async for event in stream_widget(thread, widget):
            yield event
        sentence = AssistantMessageContent(text=f"Here is the forecast for {self.arguments['city']}.")
        message_id = self.store.generate_item_id("message", thread, context)
        yield ThreadItemDoneEvent(
            item=AssistantMessageItem(id=message_id, thread_id=thread.id, created_at=datetime.now(), content=[sentence])
        )


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


async def check_tool(definition: WidgetDefinition) -> None:
    """The definition registers as an MCP tool whose schemas come from the widget models and the definition."""
    mcp = FastMCP("compat-check")
    generate_widget_tools(mcp, [definition])
    async with Client(mcp) as client:
        tools = {tool.name: tool for tool in await client.list_tools()}
        expect(list(tools) == ["forecast_card"], f"tools registered: {list(tools)}")
        tool = tools["forecast_card"]
        expect(sorted(tool.input_schema["required"]) == ["celsius", "city"], f"input schema: {tool.input_schema}")
        output = tool.output_schema or {}
        expect(sorted(output.get("properties", {})) == ["id", "key", "type"], f"output schema: {output}")
        result = await client.call_tool("forecast_card", {"city": "Paris", "celsius": 21})
        # The tool's declared result is the base component, so FastMCP sends only the base fields
        # (with the reference as here); a client renders from the definition, as the turn below does.
        answer = result.structured_content or {}
        expect(answer.get("type") == "Card", f"tool answered {result.structured_content}")
        try:
            await client.call_tool("forecast_card", {"city": "Paris"})
        except ToolError:
            pass
        else:
            raise AssertionError("a call without the required celsius argument was accepted")


async def main() -> None:
    """Register the tool, then run a turn that streams the rendered widget and read it back from the store."""
    with tempfile.TemporaryDirectory() as folder:
        # The package reads definitions from a folder, as its CLI's --widgets-dir.
        path = Path(folder, "forecast.widget")
        await asyncio.to_thread(path.write_text, json.dumps(FORECAST))
        [definition] = load_widgets(Path(folder))
        await check_tool(definition)

        server = WidgetToolServer(definition, {"city": "Paris", "celsius": 21})
        events = await stream(server, user_message("Forecast for Paris?"), USER)
    thread_id = events[0]["thread"]["id"]
    widgets = done_items(events, "widget")
    expect(len(widgets) == 1, f"widget items done: {widgets}")
    expect(_without_nulls(widgets[0]["widget"]) == EXPECTED_WIDGET, f"the widget streamed as {widgets[0]['widget']}")

    listed = await call(server, {"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}}, USER)
    stored = {item["type"]: item for item in listed["data"]}
    expect(list(stored) == ["user_message", "widget", "assistant_message"], f"the thread holds {list(stored)}")
    expect(stored["widget"]["widget"] == widgets[0]["widget"], "the stored widget differs from the streamed one")
    report("mcp-chatkit-widget", f"tool registered and called over MCP, 1 turn, {len(events)} events")


if __name__ == "__main__":
    asyncio.run(main())
