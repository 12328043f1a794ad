"""The public names of `chatkit.asgi` and `chatkit.attachments`, and what importing them costs."""

from __future__ import annotations

import subprocess
import sys

import chatkit.asgi
import chatkit.attachments


def test_public_names() -> None:
    assert sorted(chatkit.asgi.__all__) == [
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
    assert sorted(chatkit.attachments.__all__) == [
        "AttachmentConverter",
        "AttachmentLinker",
        "AttachmentReader",
        "AttachmentRejectedError",
        "DEFAULT_ALLOWED_MIME_TYPES",
        "DEFAULT_PREVIEW_TTL",
        "LocalAttachmentConverter",
        "LocalAttachmentStore",
        "MAX_NAME_LENGTH",
        "PostgresAttachmentStore",
        "S3AttachmentStore",
        "SCOPE_METADATA_KEY",
        "StoredFile",
        "is_valid_attachment_id",
        "safe_file_name",
        "sniff_mime_type",
    ]
    for name in chatkit.asgi.__all__:
        assert getattr(chatkit.asgi, name) is not None
    for name in chatkit.attachments.__all__:
        assert getattr(chatkit.attachments, name) is not None


def test_serving_does_not_load_the_agents_sdk() -> None:
    code = "import sys, chatkit.asgi, chatkit.attachments; print('agents' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
