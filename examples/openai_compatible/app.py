"""A ChatKit assistant on any OpenAI-compatible Chat Completions server: Ollama, vLLM, llama.cpp, LiteLLM...

Run it with the `chatkit` command, which serves the playground too:

    pip install "chatkit-server[serve]"
    ollama pull llama3.2                   # or start any OpenAI-compatible server
    export LLM_BASE_URL=http://127.0.0.1:11434/v1 LLM_MODEL=llama3.2
    chatkit serve app:make_server --store sqlite:///chat.db

then open http://127.0.0.1:8000/.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from agents import Agent, OpenAIChatCompletionsModel, RunConfig, Runner
from openai import AsyncOpenAI

from chatkit.agents import AgentContext, ChatCompletionsItemConverter, stream_agent_response
from chatkit.server import ChatKitServer
from chatkit.store import Store
from chatkit.types import ThreadMetadata, ThreadStreamEvent, UserMessageItem

Context = dict[str, Any]
HISTORY = 40


class LocalModelServer(ChatKitServer[Context]):
    """Answers with an agent whose model lives behind an OpenAI-compatible endpoint."""

    def __init__(self, store: Store[Context], model: OpenAIChatCompletionsModel) -> None:
        super().__init__(store)
        self.agent = Agent[AgentContext[Context]](
            name="Assistant", instructions="You are a concise, friendly assistant.", model=model
        )
        # Earlier answers are replayed as plain text, the form Chat Completions models accept.
        self.converter = ChatCompletionsItemConverter()
        # Traces would be sent to the OpenAI platform: not wanted with another provider.
        self.run_config = RunConfig(tracing_disabled=True)

    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: Context
    ) -> AsyncIterator[ThreadStreamEvent]:
        """Run the agent over the newest items of the thread."""
        page = await self.store.load_thread_items(thread.id, None, HISTORY, "desc", context)
        agent_input = await self.converter.to_agent_input(list(reversed(page.data)))
        agent_context = AgentContext[Context](thread=thread, store=self.store, request_context=context)
        result = Runner.run_streamed(self.agent, agent_input, context=agent_context, run_config=self.run_config)
        async for event in stream_agent_response(agent_context, result):
            yield event


def make_server(store: Store[Context]) -> LocalModelServer:
    """The factory `chatkit serve app:make_server --store URL` calls with the store it built."""
    client = AsyncOpenAI(
        base_url=os.environ.get("LLM_BASE_URL", "http://127.0.0.1:11434/v1"),
        # Most local servers ignore the key, but the client insists on one.
        api_key=os.environ.get("LLM_API_KEY", "unused"),
    )
    model = OpenAIChatCompletionsModel(model=os.environ.get("LLM_MODEL", "llama3.2"), openai_client=client)
    return LocalModelServer(store, model)
