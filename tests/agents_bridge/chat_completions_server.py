"""A tiny OpenAI-compatible Chat Completions server on 127.0.0.1, streaming canned completions over SSE.

It stands in for the local model servers (llama.cpp, vLLM, Ollama, LiteLLM proxies) that speak the
Chat Completions protocol: each POST to /v1/chat/completions gets the next canned completion, and
the request bodies are kept for the test to inspect.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

Chunk = dict[str, Any]


def text_completion(*pieces: str) -> list[Chunk]:
    """An assistant reply streamed as `pieces`."""
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": piece} for piece in pieces]
    return [_chunk(delta) for delta in deltas] + [_chunk({}, finish_reason="stop")]


def tool_call_completion(call_id: str, name: str, arguments: dict[str, Any]) -> list[Chunk]:
    """One function call whose JSON arguments arrive in two pieces."""
    raw = json.dumps(arguments, ensure_ascii=False)
    middle = len(raw) // 2
    first = {"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": raw[:middle]}}
    rest = {"index": 0, "function": {"arguments": raw[middle:]}}
    return [
        _chunk({"role": "assistant", "tool_calls": [first]}),
        _chunk({"tool_calls": [rest]}),
        _chunk({}, finish_reason="tool_calls"),
    ]


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> Chunk:
    return {
        "id": "chatcmpl-canned",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "local-model",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


class ChatCompletionsServer:
    """Serves `completions` in order, one per request; `requests` holds the parsed request bodies."""

    def __init__(self, completions: list[list[Chunk]]) -> None:
        self.completions = list(completions)
        self.requests: list[dict[str, Any]] = []
        self.base_url = ""

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *header_lines = head.decode("latin-1").split("\r\n")
            headers = dict(line.split(": ", 1) for line in header_lines if ": " in line)
            length = int({k.lower(): v for k, v in headers.items()}.get("content-length", "0"))
            body = json.loads(await reader.readexactly(length)) if length else {}
            if not request_line.startswith("POST /v1/chat/completions ") or not self.completions:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            self.requests.append(body)
            # No Content-Length: the body ends when the connection closes, as SSE endpoints often do.
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n")
            for chunk in self.completions.pop(0):
                writer.write(b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n")
                await writer.drain()
            writer.write(b"data: [DONE]\n\n")
            await writer.drain()
        finally:
            writer.close()
            await writer.wait_closed()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ChatCompletionsServer]:
        """Listen on a free port of 127.0.0.1 for the duration of the block."""
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        async with server:
            yield self
