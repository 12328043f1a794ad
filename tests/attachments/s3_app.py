"""A server for the Chromium two-phase test: attachments in the S3 bucket `CHATKIT_TEST_S3_BUCKET` at
`CHATKIT_TEST_S3_ENDPOINT` (moto), answering with what reached the bucket for each attachment."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from chatkit.attachments import S3AttachmentStore
from chatkit.server import ChatKitServer
from chatkit.store import Store
from chatkit.types import (
    AssistantMessageContent,
    AssistantMessageItem,
    ThreadItemDoneEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
)


class BucketReport(ChatKitServer[Any]):
    """Answers with the name, size and checked type of each attachment, as read back from the bucket."""

    def __init__(self, store: Store[Any], files: S3AttachmentStore[Any]) -> None:
        super().__init__(store, files)
        self.files = files

    async def respond(
        self, thread: ThreadMetadata, input_user_message: UserMessageItem | None, context: Any
    ) -> AsyncIterator[ThreadStreamEvent]:
        """One line per attachment of the message: `NAME: N bytes, TYPE` from the bucket."""
        lines: list[str] = []
        for attachment in input_user_message.attachments if input_user_message else []:
            # The first read confirms the upload: checks the bytes, then takes them.
            stream = await self.files.stream_file(attachment.id, self.files.scope_key(context))
            if stream is None:
                lines.append(f"{attachment.name}: nothing in the bucket")
                continue
            size = sum([len(chunk) async for chunk in stream])
            lines.append(f"{stream.name}: {size} bytes, {stream.mime_type}")
        yield ThreadItemDoneEvent(
            item=AssistantMessageItem(
                id=self.store.generate_item_id("message", thread, context),
                thread_id=thread.id,
                created_at=datetime.now(),
                content=[AssistantMessageContent(text="\n".join(lines) or "no attachments")],
            )
        )


def make_server(store: Store[Any]) -> BucketReport:
    """The server `chatkit serve tests.attachments.s3_app:make_server --store URL` runs."""
    files: S3AttachmentStore[Any] = S3AttachmentStore(
        os.environ["CHATKIT_TEST_S3_BUCKET"],
        endpoint_url=os.environ["CHATKIT_TEST_S3_ENDPOINT"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        secret="test-secret",
    )
    return BucketReport(store, files)
