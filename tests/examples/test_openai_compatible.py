"""`examples/openai_compatible`: `chatkit serve` with a model behind a local Chat Completions server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.agents_bridge.chat_completions_server import ChatCompletionsServer, text_completion
from tests.examples.support import EXAMPLES, assistant_text, free_port, running_app, stream, user_input

# Each test runs the example as a process of its own.
pytestmark = pytest.mark.process


async def test_two_turns_stream_from_the_local_model(tmp_path: Path) -> None:
    model = ChatCompletionsServer(
        [
            text_completion("Hello! ", "I run on ", "a local model."),
            text_completion("You said hi."),
        ]
    )
    port = free_port()
    async with model.running():
        env = {"LLM_BASE_URL": model.base_url, "LLM_MODEL": "tiny-llama", "LLM_API_KEY": "local-key"}
        args = [
            *("-m", "chatkit", "serve", "app:make_server"),
            *("--store", f"sqlite:///{tmp_path / 'chat.db'}", "--port", str(port)),
        ]
        async with (
            running_app(
                args, cwd=EXAMPLES / "openai_compatible", port=port, log=tmp_path / "app.log", env=env, ready_path="/"
            ) as app,
            httpx.AsyncClient(base_url=app.base_url, timeout=30) as client,
        ):
            first = await stream(client, "/chatkit", {"type": "threads.create", "params": {"input": user_input("Hi")}})
            deltas = [
                event["update"]["delta"]
                for event in first
                if event["type"] == "thread.item.updated"
                and event["update"]["type"] == "assistant_message.content_part.text_delta"
            ]
            assert deltas == ["Hello! ", "I run on ", "a local model."]
            assert assistant_text(first) == "Hello! I run on a local model."

            thread_id = first[0]["thread"]["id"]
            second = await stream(
                client,
                "/chatkit",
                {
                    "type": "threads.add_user_message",
                    "params": {"thread_id": thread_id, "input": user_input("What did I say?")},
                },
            )
            assert assistant_text(second) == "You said hi."

    assert [request["model"] for request in model.requests] == ["tiny-llama", "tiny-llama"]
    # The second request carries the whole conversation, the earlier answer included.
    assert model.requests[1]["messages"][1:] == [
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        {"role": "assistant", "content": "Hello! I run on a local model."},
        {"role": "user", "content": [{"type": "text", "text": "What did I say?"}]},
    ]
