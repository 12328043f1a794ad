"""`ChatKitTestClient`: a ChatKit client for tests, in process or over HTTP, with typed results."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from pydantic import TypeAdapter

from chatkit.server import ChatKitServer, NonStreamingResult
from chatkit.types import (
    AssistantMessageContentPartTextDelta,
    AssistantMessageItem,
    ClientToolCallItem,
    ErrorEvent,
    NoticeEvent,
    ThreadCreatedEvent,
    ThreadItem,
    ThreadItemDoneEvent,
    ThreadItemUpdatedEvent,
    ThreadStreamEvent,
    WidgetItem,
)

if TYPE_CHECKING:
    import httpx
    from starlette.types import ASGIApp

TContext = TypeVar("TContext")

_EVENTS: TypeAdapter[ThreadStreamEvent] = TypeAdapter(ThreadStreamEvent)
_ITEMS: TypeAdapter[ThreadItem] = TypeAdapter(ThreadItem)


class ChatKitRequestError(Exception):
    """The server refused a request over HTTP: its status and the error it sent."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


@dataclass
class Turn:
    """What a streaming request answered: its events, decoded, and the views a test asks for."""

    events: list[ThreadStreamEvent]
    frames: list[bytes] = field(repr=False)
    """The raw SSE frames, as the client received them."""

    @property
    def thread_id(self) -> str | None:
        """The thread the turn ran on (a new thread's id for `send` without `thread_id`)."""
        for event in self.events:
            if isinstance(event, ThreadCreatedEvent):
                return event.thread.id
            if isinstance(event, ThreadItemDoneEvent):
                return event.item.thread_id
        return None

    @property
    def items(self) -> list[ThreadItem]:
        """The items the turn finished (`thread.item.done`), in order."""
        return [event.item for event in self.events if isinstance(event, ThreadItemDoneEvent)]

    @property
    def text(self) -> str:
        """The text of the turn's last finished assistant message ("" if none)."""
        messages = [item for item in self.items if isinstance(item, AssistantMessageItem)]
        return "".join(part.text for part in messages[-1].content) if messages else ""

    @property
    def deltas(self) -> list[str]:
        """The assistant text as it streamed: every text delta, in order."""
        return [
            event.update.delta
            for event in self.events
            if isinstance(event, ThreadItemUpdatedEvent)
            and isinstance(event.update, AssistantMessageContentPartTextDelta)
        ]

    @property
    def widgets(self) -> list[WidgetItem]:
        """The widgets the turn finished."""
        return [item for item in self.items if isinstance(item, WidgetItem)]

    @property
    def tool_calls(self) -> list[ClientToolCallItem]:
        """The client tool calls the turn finished (the client is expected to answer the last one)."""
        return [item for item in self.items if isinstance(item, ClientToolCallItem)]

    @property
    def error(self) -> ErrorEvent | None:
        """The turn's `error` event, if it ended with one."""
        return next((event for event in self.events if isinstance(event, ErrorEvent)), None)

    @property
    def notices(self) -> list[NoticeEvent]:
        """The turn's `notice` events."""
        return [event for event in self.events if isinstance(event, NoticeEvent)]

    def of_type(self, event_type: str) -> list[ThreadStreamEvent]:
        """The events of one `type` (`"thread.item.updated"`, `"progress_update"`, ...)."""
        return [event for event in self.events if event.type == event_type]


class Transport(Protocol):
    """How a `ChatKitTestClient` reaches the server."""

    async def call(self, body: dict[str, Any]) -> Any:
        """Send a plain request; its JSON answer."""
        ...

    async def stream(self, body: dict[str, Any], stop_after: int | None) -> list[bytes]:
        """Send a streaming request; its frames (the first `stop_after`, then the client leaves)."""
        ...

    async def aclose(self) -> None:
        """Release what the transport holds."""
        ...


class InProcess(Generic[TContext]):
    """Calls `server.process(body, context)`, as an endpoint would."""

    def __init__(self, server: ChatKitServer[TContext], context: TContext) -> None:
        self.server = server
        self.context = context

    async def call(self, body: dict[str, Any]) -> Any:
        """Send a plain request; its JSON answer."""
        result = await self.server.process(json.dumps(body), self.context)
        if not isinstance(result, NonStreamingResult):
            raise TypeError(f"{body['type']} is a streaming request: use the method that returns a Turn")
        return json.loads(result.json)

    async def stream(self, body: dict[str, Any], stop_after: int | None) -> list[bytes]:
        """Read the stream; after `stop_after` frames the reading task is cancelled, as a disconnect does."""
        result = await self.server.process(json.dumps(body), self.context)
        if isinstance(result, NonStreamingResult):
            raise TypeError(f"{body['type']} is not a streaming request")
        frames: list[bytes] = []
        if stop_after is None:
            async for frame in result:
                frames.append(frame)
            return frames
        enough = asyncio.Event()

        async def read() -> None:
            async for frame in result:
                if len(frames) < stop_after:
                    frames.append(frame)
                if len(frames) >= stop_after:
                    enough.set()

        # The reader is cancelled where it next waits for the stream, as a dropped connection is
        # noticed: the server's stream is cancelled there and keeps what it had shown.
        reading = asyncio.create_task(read())
        waiting = asyncio.create_task(enough.wait())
        await asyncio.wait([reading, waiting], return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        reading.cancel()
        await asyncio.gather(reading, waiting, return_exceptions=True)
        return frames

    async def aclose(self) -> None:
        """Nothing to release."""


class OverHTTP:
    """Posts to the endpoint through `httpx`: an ASGI app in process, or a live server's URL."""

    def __init__(self, client: httpx.AsyncClient, path: str) -> None:
        self.client = client
        self.path = path

    async def call(self, body: dict[str, Any]) -> Any:
        """Send a plain request; its JSON answer, or `ChatKitRequestError`."""
        response = await self.client.post(self.path, json=body)
        _raise_for(response.status_code, response.content)
        return response.json()

    async def stream(self, body: dict[str, Any], stop_after: int | None) -> list[bytes]:
        """Read the event stream; after `stop_after` frames the connection is closed."""
        async with self.client.stream("POST", self.path, json=body) as response:
            if response.status_code != 200:
                _raise_for(response.status_code, await response.aread())
            return [frame async for frame in _frames(response.aiter_bytes(), stop_after)]

    async def follow(self, thread_id: str, after: int, stop_after: int | None) -> list[bytes] | None:
        """Follow the thread's running turn from frame `after`; None when no turn runs (204)."""
        url = f"{self.path}/threads/{thread_id}/stream"
        async with self.client.stream("GET", url, params={"after": after}) as response:
            if response.status_code == 204:
                return None
            if response.status_code != 200:
                _raise_for(response.status_code, await response.aread())
            return [frame async for frame in _frames(response.aiter_bytes(), stop_after)]

    async def stop(self, thread_id: str) -> bool:
        """Stop the thread's running turn, in whichever process runs it; whether one was running."""
        response = await self.client.post(f"{self.path}/threads/{thread_id}/stop")
        _raise_for(response.status_code, response.content)
        return bool(response.json()["stopped"])

    async def send_file(self, url: str, method: str, data: bytes, name: str, mime_type: str) -> dict[str, Any]:
        """Send a file's bytes to an upload URL: raw with `PUT`, as a multipart form with `POST`."""
        if method == "PUT":
            response = await self.client.put(url, content=data, headers={"content-type": mime_type})
        else:
            response = await self.client.post(url, files={"file": (name, data, mime_type)})
        _raise_for(response.status_code, response.content)
        return response.json()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self.client.aclose()


class ChatKitTestClient:
    """A ChatKit client for tests, with the same methods in process and over HTTP.

        client = ChatKitTestClient.in_process(MyServer(MemoryStore()), context={"user_id": "alice"})
        turn = await client.send("Hi")
        assert turn.text == "Hello, alice!"

    Streaming requests return a `Turn`; plain ones their JSON answer (threads and items as the
    protocol's types). Over HTTP a refused request raises `ChatKitRequestError`; in process the
    server's exception propagates (`NotFoundError`, a pydantic `ValidationError`, ...).
    """

    def __init__(self, transport: Transport) -> None:
        """Use `in_process`, `for_app` or `for_url`, unless you bring a `Transport` of your own."""
        self.transport = transport
        self.threads = _Threads(self)
        """`threads.list()`, `.get(id)`, `.update(id, title)`, `.delete(id)`."""

    @classmethod
    def in_process(cls, server: ChatKitServer[TContext], context: TContext) -> ChatKitTestClient:
        """A client calling `server.process` with `context` (one user: make one client per user)."""
        return cls(InProcess(server, context))

    @classmethod
    def for_app(
        cls, app: ASGIApp, *, headers: Mapping[str, str] | None = None, path: str = "/chatkit"
    ) -> ChatKitTestClient:
        """A client posting to `path` of an ASGI app (`create_app(...)`, your FastAPI app) in process.

        `headers` go with every request (your authentication). The ASGI transport hands over a
        response once it is complete, so `stop_after` needs `for_url` (a live server).
        """
        httpx = _httpx()
        transport = httpx.ASGITransport(app=app)
        client = httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=dict(headers or {}))
        return cls(OverHTTP(client, path))

    @classmethod
    def for_url(
        cls, base_url: str, *, headers: Mapping[str, str] | None = None, path: str = "/chatkit", timeout: float = 60
    ) -> ChatKitTestClient:
        """A client of a running server at `base_url` (`chatkit serve`, a deployment)."""
        httpx = _httpx()
        client = httpx.AsyncClient(base_url=base_url, headers=dict(headers or {}), timeout=timeout)
        return cls(OverHTTP(client, path))

    async def __aenter__(self) -> ChatKitTestClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Release the transport (the HTTP client)."""
        await self.transport.aclose()

    # -- streaming requests ------------------------------------------------------------------

    async def send(
        self,
        text: str,
        *,
        thread_id: str | None = None,
        attachments: Sequence[str] = (),
        quoted_text: str | None = None,
        model: str | None = None,
        stop_after: int | None = None,
    ) -> Turn:
        """Send a user message: a new thread (`threads.create`) unless `thread_id` is given.

        `stop_after=N` reads N frames and leaves, as a stop or a closed tab does.
        """
        content = [{"type": "input_text", "text": text}] if text else []
        user_input: dict[str, Any] = {
            "content": content,
            "attachments": list(attachments),
            "quoted_text": quoted_text,
            "inference_options": {"model": model} if model else {},
        }
        if thread_id is None:
            return await self.stream("threads.create", {"input": user_input}, stop_after=stop_after)
        return await self.stream(
            "threads.add_user_message", {"thread_id": thread_id, "input": user_input}, stop_after=stop_after
        )

    async def retry(self, thread_id: str, item_id: str, *, stop_after: int | None = None) -> Turn:
        """Answer a user message again (`threads.retry_after_item`)."""
        return await self.stream(
            "threads.retry_after_item", {"thread_id": thread_id, "item_id": item_id}, stop_after=stop_after
        )

    async def action(
        self, thread_id: str, action: Mapping[str, Any], *, item_id: str | None = None, stop_after: int | None = None
    ) -> Turn:
        """Run a widget's server action (`threads.custom_action`); `action` as `{"type": ..., "payload": ...}`."""
        params = {"thread_id": thread_id, "item_id": item_id, "action": dict(action)}
        return await self.stream("threads.custom_action", params, stop_after=stop_after)

    async def client_tool_output(self, thread_id: str, result: Any, *, stop_after: int | None = None) -> Turn:
        """Answer the client tool call the last turn ended on."""
        params = {"thread_id": thread_id, "result": result}
        return await self.stream("threads.add_client_tool_output", params, stop_after=stop_after)

    async def structured_input(
        self,
        thread_id: str,
        item_id: str,
        answers: Mapping[str, Sequence[str]],
        *,
        skipped: bool = False,
        stop_after: int | None = None,
    ) -> Turn:
        """Answer a structured-input item (`threads.add_structured_input`): question id to chosen values."""
        submission = {
            "status": "skipped" if skipped else "answered",
            "answers": {question: {"values": list(values)} for question, values in answers.items()},
        }
        params = {"thread_id": thread_id, "item_id": item_id, "input": submission}
        return await self.stream("threads.add_structured_input", params, stop_after=stop_after)

    async def stream(self, request_type: str, params: Mapping[str, Any], *, stop_after: int | None = None) -> Turn:
        """Any streaming request, by its `type` and `params`."""
        frames = await self.transport.stream({"type": request_type, "params": dict(params)}, stop_after)
        return Turn([_EVENTS.validate_json(_data(frame)) for frame in frames], frames)

    async def rejoin(self, thread_id: str, *, after: int = 0, stop_after: int | None = None) -> Turn | None:
        """Follow the thread's running turn, as a reload or a second tab does: its frames after the
        first `after`, to its end. None when no turn runs on the thread. Over HTTP only."""
        frames = await self._http("rejoin").follow(thread_id, after, stop_after)
        return None if frames is None else Turn([_EVENTS.validate_json(_data(frame)) for frame in frames], frames)

    async def stop(self, thread_id: str) -> bool:
        """Stop the thread's running turn (the stop button); whether one was running. Over HTTP only."""
        return await self._http("stop").stop(thread_id)

    def _http(self, what: str) -> OverHTTP:
        if not isinstance(self.transport, OverHTTP):
            raise TypeError(f"{what} goes to an HTTP route of create_app: use for_app or for_url")
        return self.transport

    # -- plain requests ----------------------------------------------------------------------

    async def sync_action(
        self, thread_id: str, action: Mapping[str, Any], *, item_id: str | None = None
    ) -> dict[str, Any]:
        """Run a widget's synchronous action (`threads.sync_custom_action`); the server's answer."""
        params = {"thread_id": thread_id, "item_id": item_id, "action": dict(action)}
        return await self.call("threads.sync_custom_action", params)

    async def feedback(self, thread_id: str, item_ids: Sequence[str], kind: Literal["positive", "negative"]) -> None:
        """Rate items (`items.feedback`)."""
        await self.call("items.feedback", {"thread_id": thread_id, "item_ids": list(item_ids), "kind": kind})

    async def items(
        self, thread_id: str, *, limit: int = 100, order: Literal["asc", "desc"] = "asc"
    ) -> list[ThreadItem]:
        """The thread's items the client sees, oldest first (`items.list`)."""
        page = await self.call("items.list", {"thread_id": thread_id, "limit": limit, "order": order})
        return [_ITEMS.validate_python(item) for item in page["data"]]

    async def create_attachment(self, name: str, mime_type: str, size: int) -> dict[str, Any]:
        """Register an upload (`attachments.create`); the attachment, with its upload descriptor if two-phase."""
        return await self.call("attachments.create", {"name": name, "mime_type": mime_type, "size": size})

    async def upload(self, data: bytes, name: str, mime_type: str, *, direct: bool = False) -> dict[str, Any]:
        """Upload a file as the web client does; the attachment to send with a message.

        Two-phase (the default): `attachments.create`, then the bytes to the upload descriptor's
        URL when there is one. `direct=True` posts them to the endpoint's `/upload` route at once.
        Bytes travel over HTTP only: in process the attachment comes back as registered.
        """
        if direct:
            http = self._http("a direct upload (the /upload route)")
            return await http.send_file(f"{http.path}/upload", "POST", data, name, mime_type)
        attachment = await self.create_attachment(name, mime_type, len(data))
        descriptor = attachment.get("upload_descriptor")
        if descriptor is None or not isinstance(self.transport, OverHTTP):
            return attachment
        return await self.transport.send_file(descriptor["url"], descriptor["method"], data, name, mime_type)

    async def call(self, request_type: str, params: Mapping[str, Any]) -> Any:
        """Any plain request, by its `type` and `params`; its JSON answer."""
        return await self.transport.call({"type": request_type, "params": dict(params)})


class _Threads:
    """The thread requests of a `ChatKitTestClient`."""

    def __init__(self, client: ChatKitTestClient) -> None:
        self._client = client

    async def list(self, *, limit: int = 100, order: Literal["asc", "desc"] = "desc") -> list[dict[str, Any]]:
        """The caller's threads (`threads.list`)."""
        page = await self._client.call("threads.list", {"limit": limit, "order": order})
        return list(page["data"])

    async def get(self, thread_id: str) -> dict[str, Any]:
        """One thread with its first items (`threads.get_by_id`)."""
        return await self._client.call("threads.get_by_id", {"thread_id": thread_id})

    async def update(self, thread_id: str, title: str) -> dict[str, Any]:
        """Rename a thread (`threads.update`)."""
        return await self._client.call("threads.update", {"thread_id": thread_id, "title": title})

    async def delete(self, thread_id: str) -> None:
        """Delete a thread (`threads.delete`)."""
        await self._client.call("threads.delete", {"thread_id": thread_id})


async def _frames(chunks: AsyncIterator[bytes], stop_after: int | None) -> AsyncIterator[bytes]:
    """Whole `data: ...` frames out of the body's chunks; at most `stop_after` of them."""
    buffer = b""
    count = 0
    async for chunk in chunks:
        buffer += chunk
        while b"\n\n" in buffer:
            frame, buffer = buffer.split(b"\n\n", 1)
            yield frame + b"\n\n"
            count += 1
            if stop_after is not None and count >= stop_after:
                return


def _data(frame: bytes) -> bytes:
    """The JSON of one SSE frame (its `data:` lines)."""
    lines = [line[5:].lstrip() for line in frame.strip().split(b"\n") if line.startswith(b"data:")]
    return b"\n".join(lines)


def _raise_for(status: int, body: bytes) -> None:
    if status < 400:
        return
    try:
        error = json.loads(body)["error"]
        code, message = str(error.get("code")), str(error.get("message"))
    except (ValueError, KeyError, TypeError, AttributeError):
        code, message = "http_error", body.decode(errors="replace")[:500]
    raise ChatKitRequestError(status, code, message)


def _httpx() -> Any:
    try:
        import httpx
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("ChatKitTestClient over HTTP needs httpx: pip install 'chatkit-server[testing]'") from error
    return httpx
