"""The converter that gives the model the images and files of any attachment store.

Imported only by `chatkit.attachments.AttachmentConverter` (or `LocalAttachmentConverter`) on
first use: it needs the Agents SDK.
"""

from __future__ import annotations

import base64
from typing import Any

from openai.types.responses import ResponseInputContentParam

from chatkit.agents import ThreadItemConverter
from chatkit.attachments._checks import SCOPE_METADATA_KEY, TEXT_LIKE_TYPES
from chatkit.attachments._streams import AttachmentFiles, AttachmentLinker, AttachmentReader, streaming_files
from chatkit.store import AttachmentStore
from chatkit.types import Attachment


class AttachmentConverter(ThreadItemConverter):
    """A `ThreadItemConverter` that gives the model the images and files of an attachment store.

    Works with every store of `chatkit.attachments` and with a store of your own that implements
    `AttachmentReader` (`read_attachment`) or `AttachmentLinker` (`attachment_url`). Text is
    inlined as `input_text`; images become `input_image` and other files `input_file`, by URL when
    the store can give one (the bytes then go bucket -> model, not through this process), else inline.
    """

    def __init__(self, attachment_store: AttachmentStore[Any]) -> None:
        super().__init__()
        self.attachment_store = attachment_store
        # Our stores are read through the streaming face the upload routes use; yours through the protocols.
        self._files: AttachmentFiles | None = None
        if not isinstance(attachment_store, AttachmentReader):
            try:
                self._files = streaming_files(attachment_store)
            except TypeError:
                if not isinstance(attachment_store, AttachmentLinker):
                    raise TypeError(
                        f"{type(attachment_store).__name__} gives no bytes or URLs: "
                        "implement read_attachment or attachment_url"
                    ) from None

    async def attachment_to_message_content(self, attachment: Attachment) -> ResponseInputContentParam:
        """An image as `input_image`, text as `input_text`, anything else as `input_file`."""
        mime_type = attachment.mime_type
        textual = mime_type.startswith("text/") or mime_type in TEXT_LIKE_TYPES
        if not textual and isinstance(self.attachment_store, AttachmentLinker):
            url = await self.attachment_store.attachment_url(attachment)
            if url is not None:
                if mime_type.startswith("image/"):
                    return {"type": "input_image", "image_url": url, "detail": "auto"}
                return {"type": "input_file", "file_url": url, "filename": attachment.name}
        data = await self._read(attachment)
        if data is None:
            return {"type": "input_text", "text": f"[attachment {attachment.name} was never uploaded]"}
        if textual:
            text = data.decode("utf-8", errors="replace")
            return {"type": "input_text", "text": f"Attached file {attachment.name}:\n{text}"}
        inline = f"data:{mime_type};base64,{base64.b64encode(data).decode()}"
        if mime_type.startswith("image/"):
            return {"type": "input_image", "image_url": inline, "detail": "auto"}
        return {"type": "input_file", "file_data": inline, "filename": attachment.name}

    async def _read(self, attachment: Attachment) -> bytes | None:
        if isinstance(self.attachment_store, AttachmentReader):
            return await self.attachment_store.read_attachment(attachment)
        scope_key = (attachment.metadata or {}).get(SCOPE_METADATA_KEY)
        if self._files is None or not isinstance(scope_key, str):
            return None
        opened = await self._files.stream_file(attachment.id, scope_key)
        if opened is None:
            return None
        return b"".join([data async for data in opened])


class LocalAttachmentConverter(AttachmentConverter):
    """The `AttachmentConverter` by its earlier name, from when it read local files only."""
