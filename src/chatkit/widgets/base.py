"""What every widget component shares, and the deprecation of hand-built named widgets."""

import warnings
from typing import Any, TypeVar

from pydantic import BaseModel

DEPRECATION_MESSAGE = (
    "Direct usage of named widget classes is deprecated. Use WidgetTemplate to build widgets "
    "from .widget files instead. Visit https://widgets.chatkit.studio/ to author widget files."
)

_Model = TypeVar("_Model", bound=type[BaseModel])


def named_widget(cls: _Model) -> _Model:
    """Mark a widget class as deprecated for direct use (schema flag and a warning per instance)."""
    cls.__deprecated__ = DEPRECATION_MESSAGE  # type: ignore[attr-defined]  # read by pydantic's JSON schema
    cls.__chatkit_named_widget__ = True  # type: ignore[attr-defined]
    return cls


class WidgetComponentBase(BaseModel):
    """Fields every widget component has."""

    key: str | None = None
    id: str | None = None
    type: str

    def model_post_init(self, context: Any, /) -> None:
        # Named classes stay usable but steer authors to .widget templates, as the reference does.
        if type(self).__dict__.get("__chatkit_named_widget__", False):
            warnings.warn(DEPRECATION_MESSAGE, DeprecationWarning, stacklevel=2)
