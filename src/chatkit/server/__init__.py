"""The ChatKit server: request handling, the response pipeline and widget streaming."""

from chatkit.server.core import ChatKitServer, TContext
from chatkit.server.results import NonStreamingResult, StreamingResult
from chatkit.server.user_agent import agents_sdk_user_agent_override
from chatkit.server.widget_stream import diff_widget, stream_widget

__all__ = [
    "ChatKitServer",
    "NonStreamingResult",
    "StreamingResult",
    "TContext",
    "agents_sdk_user_agent_override",
    "diff_widget",
    "stream_widget",
]
