"""Workflows: a collapsible list of tasks the assistant shows while it works."""

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from chatkit.icons import IconName
from chatkit.types.sources import FileSource, URLSource


class CustomSummary(BaseModel):
    """A workflow summary with a title of the integrator's choosing."""

    title: str
    icon: IconName | None = None


class DurationSummary(BaseModel):
    """A workflow summary showing how long the work took."""

    duration: int
    """Whole seconds."""


class BaseTask(BaseModel):
    """Fields shared by every workflow task."""

    status_indicator: Literal["none", "loading", "complete"] = "none"


class CustomTask(BaseTask):
    """A free-form task."""

    type: Literal["custom"] = "custom"
    title: str | None = None
    icon: IconName | None = None
    content: str | None = None


class SearchTask(BaseTask):
    """A web search, with its queries and the pages found."""

    type: Literal["web_search"] = "web_search"
    title: str | None = None
    title_query: str | None = None
    queries: list[str] = Field(default_factory=list)
    sources: list[URLSource] = Field(default_factory=list[URLSource])


class ThoughtTask(BaseTask):
    """A step of the model's reasoning."""

    type: Literal["thought"] = "thought"
    title: str | None = None
    content: str


class FileTask(BaseTask):
    """Work over files, with the files used."""

    type: Literal["file"] = "file"
    title: str | None = None
    sources: list[FileSource] = Field(default_factory=list[FileSource])


class ImageTask(BaseTask):
    """Work on an image."""

    type: Literal["image"] = "image"
    title: str | None = None


Task = Annotated[CustomTask | SearchTask | ThoughtTask | FileTask | ImageTask, Field(discriminator="type")]
"""Any workflow task, told apart by `type`."""


class Workflow(BaseModel):
    """An ordered list of tasks with an optional summary."""

    type: Literal["custom", "reasoning"]
    tasks: list[Task]
    summary: CustomSummary | DurationSummary | None = None
    expanded: bool = False
