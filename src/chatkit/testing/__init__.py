"""A test kit for ChatKit servers: a client with typed results, a scripted model, pytest fixtures.

    from chatkit.testing import ChatKitTestClient, Script, ScriptedModel

`ChatKitTestClient` talks to a server as the web client does, in process or over HTTP;
`ScriptedModel` stands in for the model of an Agents SDK agent; the pytest plugin
(`chatkit.pytest_plugin`, registered automatically) adds the `chatkit_store` and
`chatkit_snapshot` fixtures; `chatkit.testing.contract` holds the `StoreContract` and
`AttachmentStoreContract` base classes (it imports pytest, so it is not imported here). See the
"Testing your server" guide.
"""

from chatkit.testing._client import ChatKitRequestError, ChatKitTestClient, InProcess, OverHTTP, Transport, Turn
from chatkit.testing._model import Script, ScriptedModel, Step
from chatkit.testing._snapshot import normalized

__all__ = [
    "ChatKitRequestError",
    "ChatKitTestClient",
    "InProcess",
    "OverHTTP",
    "Script",
    "ScriptedModel",
    "Step",
    "Transport",
    "Turn",
    "normalized",
]
