"""`examples/support_bot`: FastAPI + PostgreSQL, a widget, a widget action and a client tool, over real HTTP."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.agents_bridge.chat_completions_server import ChatCompletionsServer, text_completion, tool_call_completion
from tests.examples.support import (
    EXAMPLES,
    assistant_text,
    done_items,
    free_port,
    running_app,
    stream,
    user_input,
)

# Each test runs the example as a process of its own.
pytestmark = [pytest.mark.service, pytest.mark.process]

DSN = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    """A private PostgreSQL schema for the example, dropped afterwards."""
    try:
        connection = await psycopg.AsyncConnection.connect(DSN, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no PostgreSQL answers at {DSN} ({error}); CI runs this test")
    name = f"example_support_{secrets.token_hex(4)}"
    try:
        yield name
    finally:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'.encode())
        await connection.close()


async def test_a_customer_gets_an_order_card_then_a_tracking_page(schema: str, tmp_path: Path) -> None:
    model = ChatCompletionsServer(
        [
            tool_call_completion("call_lookup", "lookup_order", {"order_id": "1234"}),
            text_completion("Your order 1234 ", "has shipped with ParcelCo."),
            tool_call_completion("call_track", "open_tracking_page", {"order_id": "1234"}),
            text_completion("The tracking page is open in your browser."),
        ]
    )
    port = free_port()
    env = {
        "DATABASE_URL": DSN,
        "SUPPORT_SCHEMA": schema,
        "SUPPORT_MODEL": "local-model",
    }
    async with model.running():
        env["OPENAI_BASE_URL"] = model.base_url
        args = ["-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", str(port)]
        async with (
            running_app(args, cwd=EXAMPLES / "support_bot", port=port, log=tmp_path / "app.log", env=env) as app,
            httpx.AsyncClient(base_url=app.base_url, headers={"X-User-Id": "alice"}, timeout=30) as client,
        ):
            anonymous = await client.post(
                "/chatkit", json={"type": "threads.list", "params": {}}, headers={"X-User-Id": ""}
            )
            assert anonymous.status_code == 401

            first = await stream(
                client, "/chatkit", {"type": "threads.create", "params": {"input": user_input("Where is order 1234?")}}
            )
            thread_id = first[0]["thread"]["id"]
            [card] = done_items(first, "widget")
            assert card["widget"]["children"][0]["children"][2] == {
                "type": "Badge",
                "label": "Shipped",
                "color": "success",
                "pill": True,
            }
            assert assistant_text(first) == "Your order 1234 has shipped with ParcelCo."

            pressed = await stream(
                client,
                "/chatkit",
                {
                    "type": "threads.custom_action",
                    "params": {
                        "thread_id": thread_id,
                        "item_id": card["id"],
                        "action": {"type": "support.subscribe", "payload": {"order_id": "1234"}},
                    },
                },
            )
            [replaced] = [event["item"] for event in pressed if event["type"] == "thread.item.replaced"]
            assert replaced["widget"]["children"][3]["children"][1]["value"] == "We will email you when it moves."

            second = await stream(
                client,
                "/chatkit",
                {
                    "type": "threads.add_user_message",
                    "params": {"thread_id": thread_id, "input": user_input("Can you open the tracking page?")},
                },
            )
            [call] = done_items(second, "client_tool_call")
            assert (call["name"], call["arguments"], call["status"]) == (
                "open_tracking_page",
                {"order_id": "1234"},
                "pending",
            )

            third = await stream(
                client,
                "/chatkit",
                {
                    "type": "threads.add_client_tool_output",
                    "params": {"thread_id": thread_id, "result": {"opened": True}},
                },
            )
            assert assistant_text(third) == "The tracking page is open in your browser."

            listing = await client.post(
                "/chatkit", json={"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}}
            )
            kinds = [item["type"] for item in listing.json()["data"]]
            assert kinds == [
                "user_message",
                "widget",
                "assistant_message",
                "user_message",
                "client_tool_call",
                "assistant_message",
            ]
            other = await client.post(
                "/chatkit", json={"type": "threads.list", "params": {}}, headers={"X-User-Id": "bob"}
            )
            assert other.json()["data"] == []

    # The model saw the tool's answer and, after the browser ran its tool, the browser's result.
    assert model.requests[1]["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "call_lookup",
        "content": "Order 1234: Shipped, 2 items, shipped on 3 March with ParcelCo.",
    }
    assert '"opened"' in str(model.requests[3]["messages"][-1]["content"])
