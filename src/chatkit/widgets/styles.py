"""The vocabulary of widget props: named value sets (sizes, alignments...) and plain-dict shapes."""

from typing import Literal

from typing_extensions import NotRequired, TypedDict, deprecated

from chatkit.actions import ActionConfig
from chatkit.icons import IconName
from chatkit.widgets.base import DEPRECATION_MESSAGE

RadiusValue = Literal["2xs", "xs", "sm", "md", "lg", "xl", "2xl", "3xl", "4xl", "full", "100%", "none"]
TextAlign = Literal["start", "center", "end"]
TextSize = Literal["xs", "sm", "md", "lg", "xl"]
IconSize = Literal["xs", "sm", "md", "lg", "xl", "2xl", "3xl"]
TitleSize = Literal["sm", "md", "lg", "xl", "2xl", "3xl", "4xl", "5xl"]
CaptionSize = Literal["sm", "md", "lg"]
Alignment = Literal["start", "center", "end", "baseline", "stretch"]
Justification = Literal["start", "center", "end", "between", "around", "evenly", "stretch"]
ControlVariant = Literal["solid", "soft", "outline", "ghost"]
ControlSize = Literal["3xs", "2xs", "xs", "sm", "md", "lg", "xl", "2xl", "3xl"]
TableCellAlign = Literal["start", "center", "end"]
TableColSize = Literal["xs", "sm", "md", "lg", "xl"]

WidgetIcon = IconName
"""The icons a widget may show (the reference's older name for `IconName`)."""


@deprecated(DEPRECATION_MESSAGE)
class ThemeColor(TypedDict):
    """A color that differs between light and dark themes."""

    dark: str
    light: str


@deprecated(DEPRECATION_MESSAGE)
class Spacing(TypedDict, total=False):
    """Per-side spacing (padding or margin); `x` and `y` set both sides of an axis."""

    bottom: float | str
    left: float | str
    right: float | str
    top: float | str
    x: float | str
    y: float | str


@deprecated(DEPRECATION_MESSAGE)
class Border(TypedDict):
    """One border: width, color and line style."""

    size: int
    color: NotRequired[str | ThemeColor]
    style: NotRequired[Literal["solid", "dashed", "dotted", "double", "groove", "ridge", "inset", "outset"]]


@deprecated(DEPRECATION_MESSAGE)
class Borders(TypedDict, total=False):
    """Per-side borders; a number is a width in pixels."""

    bottom: int | Border
    left: int | Border
    right: int | Border
    top: int | Border
    x: int | Border
    y: int | Border


@deprecated(DEPRECATION_MESSAGE)
class EditableProps(TypedDict):
    """Makes a `Text` editable as a form field."""

    name: str
    allowAutofillExtensions: NotRequired[bool]
    autoComplete: NotRequired[str]
    autoFocus: NotRequired[bool]
    autoSelect: NotRequired[bool]
    pattern: NotRequired[str]
    placeholder: NotRequired[str]
    required: NotRequired[bool]


@deprecated(DEPRECATION_MESSAGE)
class WidgetStatusWithFavicon(TypedDict):
    """A status line under a widget, with a favicon."""

    text: str
    favicon: NotRequired[str]
    frame: NotRequired[bool]


@deprecated(DEPRECATION_MESSAGE)
class WidgetStatusWithIcon(TypedDict):
    """A status line under a widget, with an icon."""

    text: str
    icon: NotRequired[IconName]


@deprecated(DEPRECATION_MESSAGE)
class CardAction(TypedDict):
    """A confirm or cancel button of a `Card`."""

    label: str
    action: ActionConfig


@deprecated(DEPRECATION_MESSAGE)
class SelectOption(TypedDict):
    """One option of a `Select`."""

    value: str
    label: str
    disabled: NotRequired[bool]
    description: NotRequired[str]


@deprecated(DEPRECATION_MESSAGE)
class RadioOption(TypedDict):
    """One option of a `RadioGroup`."""

    label: str
    value: str
    disabled: NotRequired[bool]


@deprecated(DEPRECATION_MESSAGE)
class XAxisConfig(TypedDict):
    """The x axis of a `Chart`."""

    dataKey: str
    hide: NotRequired[bool]
    labels: NotRequired[dict[str, str]]


@deprecated(DEPRECATION_MESSAGE)
class MinMax(TypedDict, total=False):
    """A lower and upper bound."""

    min: int | str
    max: int | str
