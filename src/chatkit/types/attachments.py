"""Files and images a user attaches to a message."""

from typing import Annotated, Any, Literal

from pydantic import AnyUrl, BaseModel, Field, SerializationInfo, SerializerFunctionWrapHandler, model_serializer

from chatkit._json import json_object
from chatkit.types.wire import is_wire


class AttachmentUploadDescriptor(BaseModel):
    """Where and how the client uploads the bytes of a two-phase attachment."""

    url: AnyUrl
    method: Literal["POST", "PUT"]
    headers: dict[str, str] = Field(default_factory=dict)


class AttachmentBase(BaseModel):
    """Fields shared by every attachment."""

    id: str
    name: str
    mime_type: str
    upload_descriptor: AttachmentUploadDescriptor | None = None
    thread_id: str | None = None
    metadata: dict[str, Any] | None = None
    """Integration-only data (storage keys and the like); never sent to the client."""

    @model_serializer(mode="wrap")
    def _hide_metadata(self, handler: SerializerFunctionWrapHandler, info: SerializationInfo):  # noqa: ANN202
        # No return annotation on purpose: the model's own JSON schema stays as it is.
        data = handler(self)
        fields = json_object(data)
        if is_wire(info) and fields is not None:
            fields.pop("metadata", None)
        return data


class FileAttachment(AttachmentBase):
    """An attached file of any type."""

    type: Literal["file"] = "file"


class ImageAttachment(AttachmentBase):
    """An attached image, with a URL the client can show as a preview."""

    type: Literal["image"] = "image"
    preview_url: AnyUrl


Attachment = Annotated[FileAttachment | ImageAttachment, Field(discriminator="type")]
"""Any attachment, told apart by `type`."""
