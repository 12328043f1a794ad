"""A server factory for the data commands' tests: the `--store` store and local files under `CHATKIT_TEST_FILES`."""

from __future__ import annotations

import os
from typing import Any

from chatkit.attachments import LocalAttachmentStore
from chatkit.store import Store
from tests.scripted_server import ScriptedServerBase

SECRET = "test-secret"


def files() -> LocalAttachmentStore[Any]:
    """The attachment store the tests fill and the commands read."""
    return LocalAttachmentStore(
        os.environ["CHATKIT_TEST_FILES"], secret=SECRET, base_url="https://chat.example/chatkit"
    )


def make_server(store: Store[Any]) -> ScriptedServerBase:
    """The server `chatkit erase tests.data.dataapp:make_server --store URL` names."""
    return ScriptedServerBase(store, files())
