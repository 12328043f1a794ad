"""Tag OpenAI API calls made by the Agents SDK during a request as coming through ChatKit."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar, Token
from importlib.metadata import PackageNotFoundError, version
from typing import Any, cast

from chatkit.version import __version__


def _user_agent() -> str:
    try:
        agents_version = version("openai-agents")
    except PackageNotFoundError:
        agents_version = "unknown"
    return f"Agents/Python {agents_version} ChatKit/Python {__version__}"


@contextmanager
def agents_sdk_user_agent_override() -> Iterator[None]:
    """Within this block, Agents SDK model calls send a ChatKit `User-Agent` header."""
    # Only a server whose responder uses the Agents SDK has imported it; importing it here would
    # cost every other server more than a second on its first request.
    if "agents" not in sys.modules:
        yield
        return
    from agents.models import chatcmpl_helpers, openai_responses

    # Both are SDK internals (one private): a release without them simply sends its own header.
    overrides: list[ContextVar[Any]] = [
        cast("ContextVar[Any]", var)
        for var in (
            getattr(chatcmpl_helpers, "HEADERS_OVERRIDE", None),
            getattr(openai_responses, "_HEADERS_OVERRIDE", None),
        )
        if isinstance(var, ContextVar)
    ]
    headers = {"User-Agent": _user_agent()}
    tokens: list[tuple[ContextVar[Any], Token[Any]]] = [(var, var.set(headers)) for var in overrides]
    try:
        yield
    finally:
        # A stream may be resumed from another task (another context) than the one that
        # started it; the header then simply stays set there, which is harmless.
        for var, token in reversed(tokens):
            with suppress(ValueError):
                var.reset(token)
