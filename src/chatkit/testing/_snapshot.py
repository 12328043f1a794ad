"""Events as comparable JSON: the ids and times a run makes up replaced by stable placeholders."""

from __future__ import annotations

import json
import re
from typing import Any, cast

from pydantic import BaseModel

from chatkit.testing._client import Turn

# Keys whose string values are ids the server generated (they differ from run to run).
_ID_KEYS = frozenset({"id", "thread_id", "item_id", "attachment_id", "after"})
_TIME_KEYS = frozenset({"created_at", "updated_at"})
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")


def normalized(events: Any) -> Any:
    """`events` (a `Turn`, models, or plain JSON) as JSON with ids as `<prefix:N>` and times as `<time>`.

    The n-th distinct id with a given prefix (`thr`, `msg`, ...) becomes `<thr:n>` wherever it
    appears, so two runs of the same test compare equal, and a change of which item an event
    names still shows.
    """
    plain = json.loads(json.dumps(_jsonable(events), default=str))
    seen: dict[str, str] = {}

    def placeholder(value: str) -> str:
        if value not in seen:
            prefix = value.split("_", 1)[0] if "_" in value else "id"
            count = sum(1 for name in seen.values() if name.startswith(f"<{prefix}:")) + 1
            seen[value] = f"<{prefix}:{count}>"
        return seen[value]

    def walk(node: Any, key: str | None = None) -> Any:
        if isinstance(node, dict):
            return {name: walk(value, name) for name, value in cast(dict[str, Any], node).items()}
        if isinstance(node, list):
            ids = key == "item_ids" or key == "attachments"
            members = cast(list[Any], node)
            return [placeholder(value) if ids and isinstance(value, str) else walk(value) for value in members]
        if isinstance(node, str):
            if key in _TIME_KEYS or _ISO_TIME.match(node):
                return "<time>"
            if key in _ID_KEYS:
                return placeholder(node)
            if node in seen:
                return seen[node]
        return node

    return walk(plain)


def _jsonable(events: Any) -> Any:
    source = events.events if isinstance(events, Turn) else events
    if isinstance(source, BaseModel):
        return source.model_dump(mode="json", exclude_none=True)
    if isinstance(source, list):
        return [_jsonable(event) for event in cast(list[Any], source)]
    return source
