"""Files and images a user attaches to a message."""

from typing import Annotated, Any, Literal

from pydantic import AnyUrl, BaseModel, Field, SerializationInfo, field_serializer

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

    @field_serializer("metadata")
    def _hide_metadata(self, value: dict[str, Any] | None, info: SerializationInfo):  # noqa: ANN202
        # No return annotation on purpose: the field's own schema (and default) stays in the JSON schema.
        return None if is_wire(info) else value


class FileAttachment(AttachmentBase):
    """An attached file of any type."""

    type: Literal["file"] = "file"


class ImageAttachment(AttachmentBase):
    """An attached image, with a URL the client can show as a preview."""

    type: Literal["image"] = "image"
    preview_url: AnyUrl


Attachment = Annotated[FileAttachment | ImageAttachment, Field(discriminator="type")]
"""Any attachment, told apart by `type`."""
