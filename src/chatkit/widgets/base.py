"""What every widget component shares, and the deprecation of hand-built named widgets."""

import warnings
from typing import Any, TypeVar

from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer

from chatkit._json import json_array, json_object

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

    # No return annotation on purpose: with one, pydantic would publish it as the serialization
    # JSON schema in place of the component's own.
    @model_serializer(mode="wrap")
    def _drop_unset_props(self, handler: SerializerFunctionWrapHandler):
        # An absent prop and a null one mean the same to the client, so dumps leave unset props
        # out (as the reference does); `children` stays, being structure rather than a prop.
        dumped = handler(self)
        data = json_object(dumped)
        if data is None:
            return dumped
        # A component means nothing without its `type`: a dump that left out a defaulted one
        # (exclude_unset) gets it back, after the set props, as the reference's dump reads.
        if "type" not in data:
            data["type"] = self.type
        return _without_none(data)

    def model_post_init(self, context: Any, /) -> None:
        # Named classes stay usable but steer authors to .widget templates, as the reference does.
        # stacklevel 3 skips pydantic's __init__/model_validate, so the warning names the caller's
        # line (and Python's default filters show it for code run as __main__).
        if type(self).__dict__.get("__chatkit_named_widget__", False):
            warnings.warn(DEPRECATION_MESSAGE, DeprecationWarning, stacklevel=3)


# Integrator data travels verbatim: a null inside an action payload or chart row is meaningful.
_OPAQUE_KEYS = frozenset({"payload", "data"})


def _without_none(props: dict[str, Any]) -> dict[str, Any]:
    """`props` without null entries, recursively through nested prop objects (not `children`)."""
    result: dict[str, Any] = {}
    for key, value in props.items():
        if value is None and key != "children":
            continue
        if key in _OPAQUE_KEYS or key == "children":
            result[key] = value
        elif (nested := json_object(value)) is not None:
            result[key] = _without_none(nested)
        elif (items := json_array(value)) is not None:
            result[key] = [_without_none(v) if (v := json_object(item)) is not None else item for item in items]
        else:
            result[key] = value
    return result
