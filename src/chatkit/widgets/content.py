"""Display components: text, headings, badges, icons, images and spacing."""

# Each component narrows the base's `type: str` to its own Literal, which is how pydantic tells
# components apart; pyright reads that as an unsafe override of a mutable attribute.
# pyright: reportIncompatibleVariableOverride=false

from typing import Literal

from chatkit.icons import IconName
from chatkit.widgets.base import WidgetComponentBase, named_widget
from chatkit.widgets.styles import (
    CaptionSize,
    EditableProps,
    IconSize,
    RadiusValue,
    Spacing,
    TextAlign,
    TextSize,
    ThemeColor,
    TitleSize,
)


@named_widget
class Text(WidgetComponentBase):
    """A run of text; with an `id` it can stream."""

    type: Literal["Text"] = "Text"
    value: str
    streaming: bool | None = None
    italic: bool | None = None
    lineThrough: bool | None = None
    color: str | ThemeColor | None = None
    weight: Literal["normal", "medium", "semibold", "bold"] | None = None
    width: float | str | None = None
    size: TextSize | None = None
    textAlign: TextAlign | None = None
    truncate: bool | None = None
    minLines: int | None = None
    maxLines: int | None = None
    editable: Literal[False] | EditableProps | None = None


@named_widget
class Title(WidgetComponentBase):
    """A heading."""

    type: Literal["Title"] = "Title"
    value: str
    color: str | ThemeColor | None = None
    weight: Literal["normal", "medium", "semibold", "bold"] | None = None
    size: TitleSize | None = None
    textAlign: TextAlign | None = None
    truncate: bool | None = None
    maxLines: int | None = None


@named_widget
class Caption(WidgetComponentBase):
    """Small secondary text."""

    type: Literal["Caption"] = "Caption"
    value: str
    color: str | ThemeColor | None = None
    weight: Literal["normal", "medium", "semibold", "bold"] | None = None
    size: CaptionSize | None = None
    textAlign: TextAlign | None = None
    truncate: bool | None = None
    maxLines: int | None = None


@named_widget
class Markdown(WidgetComponentBase):
    """Markdown text; with an `id` it can stream."""

    type: Literal["Markdown"] = "Markdown"
    value: str
    streaming: bool | None = None


@named_widget
class Badge(WidgetComponentBase):
    """A small label with a color."""

    type: Literal["Badge"] = "Badge"
    label: str
    color: Literal["secondary", "success", "danger", "warning", "info", "discovery"] | None = None
    variant: Literal["solid", "soft", "outline"] | None = None
    size: Literal["sm", "md", "lg"] | None = None
    pill: bool | None = None


@named_widget
class Divider(WidgetComponentBase):
    """A horizontal rule."""

    type: Literal["Divider"] = "Divider"
    color: str | ThemeColor | None = None
    size: int | str | None = None
    spacing: int | str | None = None
    flush: bool | None = None


@named_widget
class Icon(WidgetComponentBase):
    """An icon."""

    type: Literal["Icon"] = "Icon"
    name: IconName
    color: str | ThemeColor | None = None
    size: IconSize | None = None


@named_widget
class Image(WidgetComponentBase):
    """An image by URL."""

    type: Literal["Image"] = "Image"
    src: str
    alt: str | None = None
    fit: Literal["cover", "contain", "fill", "scale-down", "none"] | None = None
    position: (
        Literal["top left", "top", "top right", "left", "center", "right", "bottom left", "bottom", "bottom right"]
        | None
    ) = None
    radius: RadiusValue | None = None
    frame: bool | None = None
    flush: bool | None = None
    height: int | str | None = None
    width: int | str | None = None
    size: int | str | None = None
    minHeight: int | str | None = None
    minWidth: int | str | None = None
    minSize: int | str | None = None
    maxHeight: int | str | None = None
    maxWidth: int | str | None = None
    maxSize: int | str | None = None
    margin: int | str | Spacing | None = None
    background: str | ThemeColor | None = None
    aspectRatio: float | str | None = None
    flex: int | str | None = None


@named_widget
class Spacer(WidgetComponentBase):
    """Flexible empty space."""

    type: Literal["Spacer"] = "Spacer"
    minSize: int | str | None = None
