"""The converter that gives the model the images and files of a `LocalAttachmentStore`.

Imported only by `chatkit.attachments.LocalAttachmentConverter` on first use: it needs the Agents SDK.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

from openai.types.responses import ResponseInputContentParam

from chatkit.agents import ThreadItemConverter
from chatkit.attachments._checks import SCOPE_METADATA_KEY, TEXT_LIKE_TYPES
from chatkit.attachments._local import LocalAttachmentStore
from chatkit.types import Attachment


class LocalAttachmentConverter(ThreadItemConverter):
    """A `ThreadItemConverter` that gives the model the images and files of a `LocalAttachmentStore`."""

    def __init__(self, attachment_store: LocalAttachmentStore[Any]) -> None:
        super().__init__()
        self.attachment_store = attachment_store

    async def attachment_to_message_content(self, attachment: Attachment) -> ResponseInputContentParam:
        """An image as `input_image`, text as `input_text`, anything else as `input_file` (inline data)."""
        scope_key = (attachment.metadata or {}).get(SCOPE_METADATA_KEY)
        stored = None
        if isinstance(scope_key, str):
            stored = await self.attachment_store.load_file(attachment.id, scope_key)
        if stored is None:
            return {"type": "input_text", "text": f"[attachment {attachment.name} was never uploaded]"}
        data = await asyncio.to_thread(stored.path.read_bytes)
        mime_type = stored.mime_type
        inline = f"data:{mime_type};base64,{base64.b64encode(data).decode()}"
        if mime_type.startswith("image/"):
            return {"type": "input_image", "image_url": inline, "detail": "auto"}
        if mime_type.startswith("text/") or mime_type in TEXT_LIKE_TYPES:
            text = data.decode("utf-8", errors="replace")
            return {"type": "input_text", "text": f"Attached file {attachment.name}:\n{text}"}
        return {"type": "input_file", "file_data": inline, "filename": attachment.name}
