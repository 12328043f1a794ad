"""Running turns shared by every process serving one store: follow a turn's frames, interrupt it from anywhere.

`MemoryCoordination` serves a single process; `PostgresCoordination` every process on one
PostgreSQL database. `coordination_for(store)` picks the one that fits the store.
"""

from __future__ import annotations

from typing import Any

from chatkit.coordination._base import (
    LOST_FRAME,
    OVERFLOW_FRAME,
    Coordination,
    Frame,
    ReplayLimits,
    RunningTurn,
    TurnKey,
    TurnLocking,
    TurnScoping,
)
from chatkit.coordination._memory import MemoryCoordination
from chatkit.coordination._postgres import APPLICATION_NAME, CoordinationUnavailable, PostgresCoordination

__all__ = [
    "APPLICATION_NAME",
    "LOST_FRAME",
    "OVERFLOW_FRAME",
    "Coordination",
    "CoordinationUnavailable",
    "Frame",
    "MemoryCoordination",
    "PostgresCoordination",
    "ReplayLimits",
    "RunningTurn",
    "TurnKey",
    "TurnLocking",
    "TurnScoping",
    "coordination_for",
]


def coordination_for(store: Any, limits: ReplayLimits | None = None) -> Coordination:
    """`PostgresCoordination` for a `PostgresStore` (same database and schema), `MemoryCoordination` otherwise."""
    from chatkit.stores import PostgresStore

    if isinstance(store, PostgresStore):
        return PostgresCoordination.for_store(store, limits=limits)
    return MemoryCoordination(limits)
