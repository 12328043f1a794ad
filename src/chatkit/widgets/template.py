"""`.widget` files: Jinja2 templates that render widget JSON from data."""

from __future__ import annotations

import functools
import inspect
import json
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from chatkit.widgets.layout import BasicRoot, DynamicWidgetRoot

if TYPE_CHECKING:
    from jinja2 import Environment, Template

SUPPORTED_VERSION = "1.0"


@functools.cache
def _environment() -> Environment:
    """The one environment of all templates, made (and Jinja2 imported) when the first template loads.

    StrictUndefined turns a missing variable into an error instead of silently rendering an empty
    value into the widget.
    """
    from jinja2 import Environment, StrictUndefined

    return Environment(undefined=StrictUndefined, autoescape=False)


class WidgetTemplate:
    """A widget definition loaded from a `.widget` file (or its parsed JSON)."""

    def __init__(self, definition: dict[str, Any]) -> None:
        version = definition.get("version")
        if version != SUPPORTED_VERSION:
            raise ValueError(f"unsupported .widget version {version!r}; only {SUPPORTED_VERSION!r} is supported")
        self.version: str = version
        self.name: str = definition["name"]
        source = definition["template"]
        self.template: Template = _environment().from_string(source if isinstance(source, str) else json.dumps(source))
        self.data_schema: dict[str, Any] = definition.get("jsonSchema") or {}

    @classmethod
    def from_file(cls, file_path: str) -> WidgetTemplate:
        """Load a `.widget` file; a relative path is read from the calling module's folder."""
        path = Path(file_path)
        if not path.is_absolute():
            path = _caller_folder() / path
        return cls(json.loads(path.read_text(encoding="utf-8")))

    def build(self, data: dict[str, Any] | BaseModel | None = None) -> DynamicWidgetRoot:
        """Render the template with `data` and validate the result as a widget root."""
        return DynamicWidgetRoot.model_validate(self._render(data))

    def build_basic(self, data: dict[str, Any] | BaseModel | None = None) -> BasicRoot:
        """Render a template whose root is `Basic` (deprecated: `build` covers every root)."""
        warnings.warn(
            "WidgetTemplate.build_basic is deprecated. Use WidgetTemplate.build instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        return BasicRoot.model_validate(self._render(data))

    def _render(self, data: dict[str, Any] | BaseModel | None) -> Any:
        variables = data.model_dump() if isinstance(data, BaseModel) else dict(data or {})
        return json.loads(self.template.render(**variables))


def _caller_folder() -> Path:
    """The folder of the first module outside this file on the call stack."""
    frame = inspect.currentframe()
    here = Path(__file__).resolve()
    while frame is not None:
        filename = frame.f_code.co_filename
        if Path(filename).resolve() != here and not filename.startswith("<"):
            return Path(filename).resolve().parent
        frame = frame.f_back
    return Path.cwd()
