"""Serialization context that marks a dump as bound for the client.

Some fields (a thread's `metadata`, an attachment's `metadata`) belong to the integrator and
must never leave the server; their serializers consult this context.
"""

from typing import Any

from pydantic import SerializationInfo

from chatkit._json import json_object

WIRE_CONTEXT: dict[str, Any] = {"chatkit.wire": True}


def is_wire(info: SerializationInfo) -> bool:
    """Whether this dump is headed for the client."""
    context = info.context
    fields = json_object(context)
    return fields is not None and fields.get("chatkit.wire", False) is True
