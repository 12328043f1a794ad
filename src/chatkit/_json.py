"""Narrowing values parsed from JSON (or given as `Any`) to the shapes the code reads."""

from __future__ import annotations

from typing import Any, cast


def json_object(value: object) -> dict[str, Any] | None:
    """`value` if it is a dict (a JSON object: keys are strings), else None."""
    return cast("dict[str, Any]", value) if isinstance(value, dict) else None


def json_array(value: object) -> list[Any] | None:
    """`value` if it is a list (a JSON array), else None."""
    return cast("list[Any]", value) if isinstance(value, list) else None
