"""Serve a `ChatKitServer` over HTTP: a Starlette app (mountable in FastAPI) with uploads and CORS.

Needs the `serve` extra: `pip install chatkit-server[serve]`.
"""

import importlib.util

if importlib.util.find_spec("starlette") is None:  # pragma: no cover - exercised only without the extra
    raise ImportError("chatkit.asgi needs Starlette: pip install 'chatkit-server[serve]'")

from chatkit.asgi._app import create_app
from chatkit.asgi._drain import Drain
from chatkit.asgi._endpoint import ChatKitEndpoint
from chatkit.asgi._http import ContextBuilder, HTTPAuthError
from chatkit.asgi._observe import AccessLogMiddleware
from chatkit.asgi._rejoin import RejoinEndpoint
from chatkit.asgi._serve import ServeLimits, uvicorn_config
from chatkit.asgi._streaming import DisconnectPolicy
from chatkit.asgi._turns import TurnPolicy

__all__ = [
    "AccessLogMiddleware",
    "ChatKitEndpoint",
    "ContextBuilder",
    "DisconnectPolicy",
    "Drain",
    "HTTPAuthError",
    "RejoinEndpoint",
    "ServeLimits",
    "TurnPolicy",
    "create_app",
    "uvicorn_config",
]
