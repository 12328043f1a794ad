"""Fixtures of the bridge tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from agents import set_tracing_disabled


@pytest.fixture(autouse=True)
def no_trace_export() -> Iterator[None]:
    """Keep runs that leave tracing on (as the guide's code does) from exporting traces to OpenAI."""
    set_tracing_disabled(True)
    yield
