"""`GET <endpoint>/capabilities`: what this server supports, so a client shows only that."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import Receive, Scope, Send

from chatkit.asgi._http import send_bytes
from chatkit.server import ChatKitServer


def describe(server: ChatKitServer[Any], *, direct_upload: bool) -> dict[str, Any]:
    """The capabilities of `server` as served by `create_app` (`direct_upload`: the `/upload` route is there).

    `attachments` is null for a server without an attachment store (an upload would be refused),
    else the upload strategies that work: `"two_phase"` (`attachments.create`, then the bytes where
    the descriptor says) and `"direct"` (the bytes posted to `<endpoint>/upload`).
    """
    strategies = [
        name for name, works in (("two_phase", server.attachment_store is not None), ("direct", direct_upload)) if works
    ]
    return {
        "attachments": {"upload": strategies} if strategies else None,
        "transcription": _transcribes(server),
        "stop": True,
        "rejoin": True,
    }


def _transcribes(server: ChatKitServer[Any]) -> bool:
    """Whether `server` overrides `transcribe`: the base class's refuses every recording."""
    base: object = ChatKitServer.__dict__["transcribe"]
    return any(cls.__dict__.get("transcribe", base) is not base for cls in type(server).__mro__)


class CapabilitiesEndpoint:
    """Answers the server's capabilities (see `describe`): the same for every caller, no context needed.

    An extension of this package, which the reference's clients never ask for; the playground does,
    to hide what the server cannot do (an attach button for a server without an attachment store).
    """

    def __init__(self, capabilities: dict[str, Any]) -> None:
        """`capabilities` as `describe` gives them."""
        self._body = json.dumps(capabilities).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI call."""
        await send_bytes(send, 200, self._body, b"application/json", {"cache-control": "no-cache"})
