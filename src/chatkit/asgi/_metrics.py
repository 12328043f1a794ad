"""Prometheus metrics of an app, served at `GET /metrics` when `prometheus-client` is installed.

Every label value comes from a closed set (request types, HTTP statuses, turn outcomes): no thread
ids, user ids or paths, so a client cannot grow the number of series.

Under `chatkit serve --workers N` (`PROMETHEUS_MULTIPROC_DIR` set) every worker writes its figures
to the shared folder and a scrape of any worker answers for all: counters and histograms add up,
gauges add up over the live workers (draining: the largest). A worker's gauges are then as of its
last request or scrape, since a function cannot be read in another process.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, get_args

from starlette.types import Receive, Scope, Send

from chatkit.asgi._http import send_bytes
from chatkit.types.requests import NonStreamingReq, StreamingReq

if TYPE_CHECKING:
    from chatkit.asgi._observe import AccessRecord

# What `type` may say: the protocol's request types, the rejoin route, and "other" for the rest.
_REQUEST_TYPES = frozenset(
    get_args(request.model_fields["type"].annotation)[0] for request in get_args(StreamingReq | NonStreamingReq)
) | {"threads.stream"}
# Seconds: from a fast store read to a long agent turn.
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# Seconds: from an in-memory read to a database that struggles.
_STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


def metrics_available() -> bool:
    """Whether `prometheus-client` (the `metrics` extra) is installed."""
    return importlib.util.find_spec("prometheus_client") is not None


class Metrics:
    """The metrics of one app, in a registry of their own (several apps in a process never collide)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.shared_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
        # Gauges read from functions, refreshed before each answer when the figures are shared.
        self._readings: list[tuple[Any, Callable[[], float]]] = []
        self.requests = Counter(
            "chatkit_requests",
            "Requests answered, by request type and HTTP status.",
            ["type", "status"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "chatkit_request_duration_seconds",
            "Time from a request's arrival to its last byte, by request type.",
            ["type"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.turns = Counter(
            "chatkit_turns",
            "Streamed turns ended, by outcome (completed, interrupted, ...).",
            ["outcome"],
            registry=registry,
        )
        self.turn_seconds = Histogram(
            "chatkit_turn_duration_seconds", "Length of streamed turns.", buckets=_BUCKETS, registry=registry
        )
        self.first_event_seconds = Histogram(
            "chatkit_time_to_first_event_seconds",
            "Time from a streaming request's admission to its first event sent.",
            buckets=_BUCKETS,
            registry=registry,
        )
        self.events = Counter("chatkit_stream_events", "Stream events sent to clients.", registry=registry)
        self.stream_bytes = Counter(
            "chatkit_stream_bytes", "Bytes of stream events sent to clients.", registry=registry
        )
        self.turns_in_flight = Gauge(
            "chatkit_turns_in_flight", "Turns running in this process.", registry=registry, multiprocess_mode="livesum"
        )
        self.draining = Gauge(
            "chatkit_draining", "1 once the process drains, else 0.", registry=registry, multiprocess_mode="livemax"
        )
        self.followers = Gauge(
            "chatkit_followers",
            "Clients following a running turn through this process (a reload, a second tab: the rejoin route).",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.uploads = Counter(
            "chatkit_uploads",
            "File uploads answered, by strategy (two_phase, direct) and HTTP status (413, 415: refused).",
            ["strategy", "status"],
            registry=registry,
        )
        self.upload_bytes = Counter(
            "chatkit_upload_bytes", "Bytes of uploads stored, by strategy.", ["strategy"], registry=registry
        )
        self.store_seconds = Histogram(
            "chatkit_store_operation_duration_seconds",
            "Length of store operations, by Store method (the stores of chatkit.stores).",
            ["method"],
            buckets=_STORE_BUCKETS,
            registry=registry,
        )
        self.database_connections = Gauge(
            "chatkit_database_connections",
            "PostgreSQL connections of the process: open, lent out (in use), requests waiting for one.",
            ["state"],
            registry=registry,
            multiprocess_mode="livesum",
        )

    def watch(self, turns_running: Callable[[], int], draining: Callable[[], bool]) -> None:
        """Read the turns in flight and the drain state from these when scraped."""
        self._read(self.turns_in_flight, lambda: float(turns_running()))
        self._read(self.draining, lambda: float(draining()))

    def watch_database(self, connections: Callable[[], tuple[int, int, int]]) -> None:
        """Read the PostgreSQL connections (open, in use, waiting) from `connections` when scraped."""
        for index, state in enumerate(("open", "in_use", "waiting")):
            self._read(self.database_connections.labels(state), lambda index=index: float(connections()[index]))

    def _read(self, gauge: Any, reading: Callable[[], float]) -> None:
        if self.shared_dir is None:
            gauge.set_function(reading)
        else:
            self._readings.append((gauge, reading))

    def _refresh(self) -> None:
        """Write this worker's gauge readings where the other workers' scrapes read them."""
        for gauge, reading in self._readings:
            gauge.set(reading())

    def request_done(self, record: AccessRecord, seconds: float) -> None:
        """Count a finished request."""
        kind = record.request_type if record.request_type in _REQUEST_TYPES else "other"
        self.requests.labels(kind, str(record.status or 500)).inc()
        self.request_seconds.labels(kind).observe(seconds)
        self._refresh()

    def turn_done(self, outcome: str, seconds: float, first_event: float | None, events: int, sent: int) -> None:
        """Count a streamed turn that ended: how, how long, how soon its first event left, how much it sent."""
        self.turns.labels(outcome).inc()
        self.turn_seconds.observe(seconds)
        if first_event is not None:
            self.first_event_seconds.observe(first_event)
        self.events.inc(events)
        self.stream_bytes.inc(sent)

    def store_operation(self, method: str, seconds: float) -> None:
        """Time one store operation (the method names are the `Store` interface's: a closed set)."""
        self.store_seconds.labels(method).observe(seconds)

    def upload_done(self, strategy: str, status: int, stored_bytes: int) -> None:
        """Count an upload answered with `status`, and the bytes it stored (none when refused)."""
        self.uploads.labels(strategy, str(status)).inc()
        if stored_bytes:
            self.upload_bytes.labels(strategy).inc(stored_bytes)

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """`GET /metrics`: the registry in Prometheus' text format (every worker's, when they share a folder)."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = self.registry
        if self.shared_dir is not None:
            self._refresh()
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=self.shared_dir)
        await send_bytes(send, 200, generate_latest(registry), CONTENT_TYPE_LATEST.encode())
