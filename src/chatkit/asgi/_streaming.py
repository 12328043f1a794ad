"""Sending a response stream: first frame before headers, then frame by frame, minding disconnects."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Generator, Mapping
from enum import Enum
from typing import Any, Generic, Literal, TypeVar

from starlette.types import Receive, Send

from chatkit.asgi._http import HTTPProblem, problem_from, send_problem
from chatkit.logger import logger
from chatkit.server.results import encode_event
from chatkit.types import NoticeEvent


class StopReason(Enum):
    """Why a running turn was stopped: the notice its stream ends with, or, for a turn stopped
    before its first event, the answer to its request."""

    TOOK_OVER = (
        "Stopped: a newer message on this conversation took over.",
        409,
        "turn_interrupted",
        "a newer request on this thread took over",
    )
    """A newer message on the thread interrupted it."""
    STOPPED = ("Stopped.", 409, "turn_stopped", "the turn was stopped before it began")
    """The user stopped it (the stop route)."""
    RESTARTING = (
        "Stopped: the server is restarting. Send your message again to continue.",
        503,
        "server_restarting",
        "the server is restarting; send the request again",
    )
    """A drain stopped it at its deadline."""

    def __init__(self, notice: str, status: int, code: str, message: str) -> None:
        self.notice = notice
        self.status = status
        self.code = code
        self.message = message

    def unstarted(self) -> HTTPProblem:
        """The answer to a request whose turn was stopped before its first event."""
        headers = {"retry-after": "1"} if self.status == 503 else None
        return HTTPProblem(self.status, self.code, self.message, headers=headers)


DisconnectPolicy = Literal["cancel", "finish", "grace"]
"""What a turn does when its client goes away: stop at once, run to its end, or wait for a rejoin.

Under `"grace"` the turn takes no further event from the responder while nobody follows it: a
client that rejoins within the grace period (a reload, another tab) gets the rest; otherwise the
turn is stopped as a user's stop is, and the answer is saved as the client last saw it.
"""

Outcome = Literal["completed", "disconnected", "finished_in_background", "interrupted", "refused", "failed"]

T = TypeVar("T")

_FRAMES_PER_MESSAGE = 16

_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


class StreamSender:
    """Relays one event stream to the client and settles what happens when either side stops early."""

    def __init__(
        self,
        frames: AsyncGenerator[bytes, None],
        send: Send,
        receive: Receive,
        *,
        disconnect_policy: DisconnectPolicy,
        request_id: str | None,
        headers: Mapping[str, str] | None = None,
        disconnect_grace: float = 10.0,
    ) -> None:
        self._frames = frames
        self._send = send
        self._receive = receive
        self._policy = disconnect_policy
        self._grace = disconnect_grace
        # Cleared while a turn under `"grace"` waits for someone to follow it.
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._grace_wait: asyncio.Task[None] | None = None
        self._request_id = request_id
        self._extra_headers = dict(headers or {})
        self._headers = [*_SSE_HEADERS, *((k.lower().encode(), v.encode()) for k, v in self._extra_headers.items())]
        self._pump: asyncio.Task[None] | None = None
        self._started = False
        self._disconnected = False
        self._interrupted = False
        self._stop_reason = StopReason.TOOK_OVER
        self._complete = False
        self.status = 200
        self.frames_sent = 0
        self.bytes_sent = 0
        self.failed = False
        # When the first event was ready to send (`time.perf_counter()`), for the metrics.
        self.first_event_at: float | None = None
        # Sees every frame of the stream as it is made, whether or not the client still reads.
        self.tap: Callable[[bytes], None] | None = None
        # Under `"grace"`: whether someone follows the turn within the given seconds (the coordination's
        # `RunningTurn.joined_within`); without it, nobody can rejoin and the grace only delays the stop.
        self.joined_within: Callable[[float], Awaitable[bool]] | None = None

    @property
    def responded(self) -> bool:
        """Whether a response (stream or error) has started, so no other answer can be sent."""
        return self._started or self.status != 200

    def interrupt(self, reason: StopReason = StopReason.TOOK_OVER) -> None:
        """Cancel the turn (a newer request takes the thread); what it streamed so far is kept.

        A stream already started ends with a `notice` event saying why (`reason`), so the client can
        tell the stop from a cut.
        """
        self._interrupted = True
        self._stop_reason = reason
        if self._pump is not None:
            self._pump.cancel()

    async def run(self) -> Outcome:
        """Relay the stream to its end, or until a disconnect or interrupt stops it."""
        self._pump = asyncio.create_task(self._relay())
        if self._interrupted:
            self._pump.cancel()
        watcher = asyncio.create_task(self._watch_disconnect())
        try:
            await asyncio.wait([self._pump])
        except asyncio.CancelledError:
            self._pump.cancel()
            await asyncio.wait([self._pump])
            raise
        finally:
            watcher.cancel()
            if self._grace_wait is not None:
                self._grace_wait.cancel()
        if self._pump.cancelled():
            return await self._after_cancel()
        self._pump.result()
        if self.status != 200:
            return "refused"
        if self.failed:
            return "failed"
        if self._disconnected:
            return "finished_in_background"
        return "completed"

    async def _after_cancel(self) -> Outcome:
        if self._interrupted and not self._disconnected:
            if self._started:
                notice = encode_event(NoticeEvent(level="info", message=self._stop_reason.notice))
                await self._send({"type": "http.response.body", "body": notice})
                self.frames_sent += 1
                self.bytes_sent += len(notice)
            else:
                problem = self._stop_reason.unstarted()
                self.status = problem.status
                self.bytes_sent += await send_problem(self._send, problem, self._request_id, self._extra_headers)
            return "interrupted"
        return "disconnected"

    async def _relay(self) -> None:
        frames = self._frames
        send = self._send
        try:
            try:
                first = await frames.__anext__()
            except StopAsyncIteration:
                first = None
            except Exception as error:
                # Wrong-state requests fail here, before anything was sent: answer 4xx, not a broken stream.
                problem = problem_from(error)
                self.status = problem.status
                self.bytes_sent += await send_problem(send, problem, self._request_id, self._extra_headers)
                return
            await send({"type": "http.response.start", "status": 200, "headers": self._headers})
            self._started = True
            if first is None:
                await self._end()
                return
            self.first_event_at = time.perf_counter()
            if self.tap is not None:
                self.tap(first)
            try:
                await self._relay_rest(first)
            except Exception:
                # Headers are out, so the status cannot change any more: log and end the stream.
                logger.exception("event stream failed after it started")
                self.failed = True
            await self._end()
        finally:
            await frames.aclose()

    async def _end(self) -> None:
        # Once the response is complete the server reports a disconnect, which is no longer news.
        self._complete = True
        await self._send({"type": "http.response.body", "body": b""})

    async def _relay_rest(self, first: bytes) -> None:
        """Send frames as the stream makes them, several per message when they come in a burst.

        A frame is never held back: whatever is ready goes out before the stream is awaited, so
        coalescing only saves per-message work while the responder is producing without pause.
        """
        frames = self._frames
        tap = self.tap
        batch = [first]
        try:
            while True:
                if not self._flowing.is_set():
                    await self._forward(batch)
                    batch = []
                    await self._flowing.wait()
                step = frames.__anext__()
                try:
                    waiting_on = step.send(None)
                except StopIteration as ready:
                    batch.append(ready.value)
                    if tap is not None:
                        tap(ready.value)
                    if len(batch) >= _FRAMES_PER_MESSAGE:
                        await self._forward(batch)
                        batch = []
                        # Sends complete without suspending while the socket keeps up, so a responder
                        # that never waits would hold the event loop for its whole turn.
                        await asyncio.sleep(0)
                    continue
                except StopAsyncIteration:
                    break
                if batch:
                    await self._forward(batch)
                    batch = []
                try:
                    frame = await _Resumed(step, waiting_on)
                except StopAsyncIteration:
                    break
                batch.append(frame)
                if tap is not None:
                    tap(frame)
        except Exception:
            await self._forward(batch)
            raise
        await self._forward(batch)

    async def _forward(self, batch: list[bytes]) -> None:
        if self._disconnected or not batch:
            return
        body = batch[0] if len(batch) == 1 else b"".join(batch)
        try:
            await self._send({"type": "http.response.body", "body": body, "more_body": True})
        except OSError:
            # Some servers raise once the peer is gone; that is the same as a disconnect.
            self._on_disconnect()
            return
        self.frames_sent += len(batch)
        self.bytes_sent += len(body)

    async def _watch_disconnect(self) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._on_disconnect()
                return

    def _on_disconnect(self) -> None:
        if self._disconnected or self._complete:
            return
        self._disconnected = True
        if self._pump is None or self._policy == "finish":
            return
        if self._policy == "cancel":
            self._pump.cancel()
        else:
            self._flowing.clear()
            self._grace_wait = asyncio.create_task(self._wait_for_follower(self._pump))

    async def _wait_for_follower(self, pump: asyncio.Task[None]) -> None:
        """Under `"grace"`: let the turn go on once someone follows it, or stop it when the grace is over."""
        if self.joined_within is not None:
            joined = await self.joined_within(self._grace)
        else:
            await asyncio.sleep(self._grace)
            joined = False
        if joined:
            self._flowing.set()
        else:
            pump.cancel()


class _Resumed(Generic[T]):
    """Awaits the rest of a coroutine that was already run up to its first suspension.

    Running `__anext__()` by hand tells whether the next frame is ready without waiting; when it
    is not, this hands the future it waits on to the task, exactly as `await` would have.
    """

    __slots__ = ("_step", "_waiting_on")

    def __init__(self, step: Coroutine[Any, None, T], waiting_on: Any) -> None:
        self._step = step
        self._waiting_on = waiting_on

    def __await__(self) -> Generator[Any, None, T]:
        step, waiting_on = self._step, self._waiting_on
        while True:
            try:
                yield waiting_on
            except GeneratorExit:
                step.close()
                raise
            except BaseException as error:
                # Cancellation (or any error the task throws in) goes to where the stream waits.
                try:
                    waiting_on = step.throw(error)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    waiting_on = step.send(None)
                except StopIteration as done:
                    return done.value
