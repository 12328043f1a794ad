"""Serving an app with uvicorn under limits a client cannot get around: header size, timeouts, connections.

uvicorn's defaults trust the client: with `httptools` a request head is buffered whatever its
size, a connection that never sends a request (or sends it one byte at a time) stays open
forever, and there is no cap on open connections. `uvicorn_config` builds a configuration that
parses with h11 (whose head limit holds before anything is buffered) and closes slow and idle
connections.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
from dataclasses import dataclass, fields
from types import FrameType
from typing import Any

import h11
import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.server import ServerState
from uvicorn.supervisors import ChangeReload

from chatkit.asgi._drain import Drain

_HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 22\r\nconnection: close\r\n\r\nrequest head too large"
)
# Seconds uvicorn waits for open connections beyond a drain's own deadlines before closing them.
_SHUTDOWN_BACKSTOP_SECONDS = 5
# Seconds a client answered before its body was read has to read the answer before the close.
_LINGER_SECONDS = 1.0
_SERVICE_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 20\r\nconnection: close\r\n\r\ntoo many connections"
)


@dataclass(frozen=True)
class ServeLimits:
    """What one client may cost the server before it has been authenticated, or while it is slow."""

    max_header_bytes: int = 16_384
    """The request line and headers together; a longer head is refused with 400 and the connection closed."""
    header_timeout: float = 10.0
    """Seconds a connection may take to send a complete request head, counted from when it opened
    or its previous response ended; the connection is closed after that."""
    body_timeout: float = 30.0
    """Seconds a request body may pause between two pieces before the connection is closed; also
    the head start of the body's total deadline (see `min_body_rate`)."""
    min_body_rate: int = 8_192
    """Bytes per second a request body must average: the whole body is due `body_timeout` seconds
    after it starts, plus one second per `min_body_rate` bytes received (a body that drips gains
    nothing by dripping). The default lets a 20 MB upload through any link of 64 kbit/s or more."""
    keep_alive_timeout: int = 5
    """Seconds an idle connection is kept open between two requests."""
    max_connections: int = 2_048
    """Open connections at once; a new one over the limit is answered 503 and closed."""

    def __post_init__(self) -> None:
        # Every limit is a size, a time, a rate or a count: none may be zero or negative.
        for limit in fields(self):
            if getattr(self, limit.name) <= 0:
                raise ValueError(f"{limit.name} must be positive, not {getattr(self, limit.name)!r}")


class LimitedConfig(uvicorn.Config):
    """A `uvicorn.Config` carrying `ServeLimits` to the connection protocol (kept across `--reload`)."""

    def __init__(self, app: Any, *, limits: ServeLimits, **options: Any) -> None:
        super().__init__(
            app,
            http=LimitedH11Protocol,
            h11_max_incomplete_event_size=limits.max_header_bytes,
            timeout_keep_alive=limits.keep_alive_timeout,
            **options,
        )
        self.limits = limits


def uvicorn_config(app: Any, *, limits: ServeLimits | None = None, **options: Any) -> uvicorn.Config:
    """A uvicorn configuration serving `app` under `limits` (the defaults of `ServeLimits` if None).

    `options` are passed to `uvicorn.Config` (`host`, `port`, `log_level`, …); serve with
    `uvicorn.Server(config).serve()`, or `run(config)`.
    """
    return LimitedConfig(app, limits=limits or ServeLimits(), **options)


def run(config: uvicorn.Config, drain: Drain | None = None, sockets: list[socket.socket] | None = None) -> None:
    """Serve until interrupted, restarting on code changes if `config.reload` is set, as `uvicorn.run` does.

    With `drain` (the one given to the app), SIGTERM drains the app before the server stops, and
    so does Ctrl-C (SIGINT) without the drain's delay; a second signal stops it as uvicorn does.
    `sockets` are listening sockets to serve instead of binding the configured host and port.
    Exits with status 3 if the server could not start.
    """
    server = uvicorn.Server(config) if drain is None else DrainingServer(config, drain)
    try:
        if config.should_reload:
            ChangeReload(config, target=server.run, sockets=[config.bind_socket()]).run()
        else:
            server.run(sockets=sockets)
    except KeyboardInterrupt:
        pass
    if not server.started and not config.should_reload:
        sys.exit(STARTUP_FAILURE)


class DrainingServer(uvicorn.Server):
    """A uvicorn server whose first stop signal drains the app (`Drain`) before the listener closes."""

    def __init__(self, config: uvicorn.Config, drain: Drain) -> None:
        if config.timeout_graceful_shutdown is None:
            # A backstop for a turn that ignores its stop: the server gives up a little after the drain.
            config.timeout_graceful_shutdown = int(drain.delay + drain.timeout) + _SHUTDOWN_BACKSTOP_SECONDS
        super().__init__(config)
        self.drain = drain
        self._draining: asyncio.Task[None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Start the drain on the first signal; a later one is uvicorn's (a second Ctrl-C forces the exit)."""
        if self.drain.draining or self.should_exit:
            super().handle_exit(sig, frame)
            return
        self.drain.begin()
        # The delay is for a load balancer polling readiness: a person's Ctrl-C skips it.
        delay = self.drain.delay if sig == signal.SIGTERM else 0.0
        # A signal handler may only hand work to the loop; the drain runs as a task of it.
        asyncio.get_running_loop().call_soon_threadsafe(self._start_draining, delay)

    def _start_draining(self, delay: float) -> None:
        self._draining = asyncio.get_running_loop().create_task(self._drain_then_exit(delay))

    async def _drain_then_exit(self, delay: float) -> None:
        # Readiness already fails; requests are answered until the load balancer has seen it.
        await asyncio.sleep(delay)
        # The listener closes, idle connections go, and uvicorn waits for the streams still open,
        # which end as their turns do: `settle` lets them run until the deadline, then stops them.
        self.should_exit = True
        await self.drain.settle()


class LimitedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request head and body, a pause limit and a connection cap."""

    def __init__(
        self,
        config: uvicorn.Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = getattr(config, "limits", None)
        self.limits: ServeLimits = limits if isinstance(limits, ServeLimits) else ServeLimits()
        self._timer: asyncio.TimerHandle | None = None
        self._awaiting_head = False
        # When the current body must have arrived in full: moved later by each byte received.
        self._body_due: float | None = None
        self._answered_early = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the head deadline, or refuse the connection when too many are open."""
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections and not self._evict_a_lingering_connection():
            transport.write(_SERVICE_UNAVAILABLE)
            transport.close()
            return
        self._follow(received=False)

    def shutdown(self) -> None:
        """The server stops: let the connection end by itself rather than closing it now.

        A response under way finishes; an idle connection closes at its keep-alive timeout, or after
        the one last request its client sends on it, answered with `Connection: close` while the app
        drains. Closing it here would race with a proxy that just picked it for its next request: a
        502 for a POST, which a proxy never retries. A proxy's own keep-alive timeout is shorter
        than the app's (`deploy/nginx.conf`), so it lets go first; uvicorn's graceful-shutdown
        timeout still bounds the wait.
        """

    def _evict_a_lingering_connection(self) -> bool:
        """Close a connection that was answered and only waits for its client to stop sending; False if none."""
        for other in self.connections:
            if isinstance(other, LimitedH11Protocol) and other._answered_early and not other.transport.is_closing():
                other.transport.close()
                return True
        return False

    def data_received(self, data: bytes) -> None:
        """Refuse an oversized head before parsing it, else parse as uvicorn does and move the deadline."""
        if self.conn.their_state is h11.IDLE and self._head_size(data) > self.limits.max_header_bytes:
            self.transport.write(_HEAD_TOO_LARGE)
            self.transport.close()
            return
        if self.conn.their_state is h11.SEND_BODY and self._body_due is not None:
            self._body_due += len(data) / self.limits.min_body_rate
        super().data_received(data)
        self._follow(received=True)

    def _head_size(self, data: bytes) -> int:
        """The size of the request head received so far, up to its blank line if `data` holds it."""
        # h11 alone checks its limit only while the head is incomplete: a head that arrives whole
        # in one read would pass, whatever its size.
        pending = self.conn.trailing_data[0]
        tail = pending[-3:]
        end = (tail + data).find(b"\r\n\r\n")
        if end < 0:
            return len(pending) + len(data)
        return len(pending) - len(tail) + end + 4

    def on_response_complete(self) -> None:
        """The next request head is due within the head timeout; an unread body is not waited for."""
        super().on_response_complete()
        if self.conn.their_state is h11.SEND_BODY and not self.transport.is_closing():
            # Answered before the body was read (refused unauthenticated, say): the rest will never
            # be read, so the client gets a moment to read the answer and the connection then closes,
            # however it keeps sending.
            self._answered_early = True
            self._arm(min(_LINGER_SECONDS, self.limits.body_timeout))
            return
        self._follow(received=False)

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the deadline of a closed connection."""
        self._cancel()
        super().connection_lost(exc)

    def _follow(self, *, received: bool) -> None:
        if self.transport.is_closing():
            self._cancel()
            return
        state = self.conn.their_state
        if state is h11.IDLE:
            self._body_due = None
            self._answered_early = False
            # The deadline runs from when the connection started waiting, not from each byte:
            # a head sent one byte at a time cannot keep it open.
            if not self._awaiting_head:
                self._arm(self.limits.header_timeout)
                self._awaiting_head = True
        elif state is h11.SEND_BODY:
            self._awaiting_head = False
            if self._answered_early:
                return
            now = self.loop.time()
            if self._body_due is None:
                self._body_due = now + self.limits.body_timeout
            if received or self._timer is None:
                # Whichever comes first: the pause limit, or the body's total deadline.
                self._arm(min(self.limits.body_timeout, self._body_due - now))
        else:
            self._awaiting_head = False
            self._body_due = None
            self._cancel()

    def _arm(self, seconds: float) -> None:
        self._cancel()
        self._timer = self.loop.call_later(max(seconds, 0.0), self._expire)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
            # The application, if one runs, sees a disconnect.
            self.transport.close()
