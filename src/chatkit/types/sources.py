"""Sources that annotations and search or file tasks point at."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from chatkit.icons import IconName


class SourceBase(BaseModel):
    """Fields shared by every source."""

    title: str
    description: str | None = None
    timestamp: str | None = None
    group: str | None = None


class FileSource(SourceBase):
    """A file the answer drew on."""

    type: Literal["file"] = "file"
    filename: str


class URLSource(SourceBase):
    """A web page the answer drew on."""

    type: Literal["url"] = "url"
    url: str
    attribution: str | None = None


class EntitySource(SourceBase):
    """An integrator-defined entity (a ticket, a person, a document...)."""

    type: Literal["entity"] = "entity"
    id: str
    icon: IconName | None = None
    label: str | None = None
    inline_label: str | None = None
    interactive: bool = False
    data: dict[str, Any] = Field(default_factory=dict)
    preview: Literal["lazy"] | None = Field(default=None, deprecated=True)


Source = Annotated[URLSource | FileSource | EntitySource, Field(discriminator="type")]
"""Any source, told apart by `type`."""
