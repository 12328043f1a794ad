"""Form controls: buttons, inputs, selects, pickers and their labels."""

# Each component narrows the base's `type: str` to its own Literal, which is how pydantic tells
# components apart; pyright reads that as an unsafe override of a mutable attribute.
# pyright: reportIncompatibleVariableOverride=false

from datetime import datetime
from typing import Literal

from chatkit.actions import ActionConfig
from chatkit.icons import IconName
from chatkit.widgets.base import WidgetComponentBase, named_widget
from chatkit.widgets.styles import (
    ControlSize,
    ControlVariant,
    RadioOption,
    SelectOption,
    TextAlign,
    TextSize,
    ThemeColor,
)


@named_widget
class Button(WidgetComponentBase):
    """A button that runs an action or submits its form."""

    type: Literal["Button"] = "Button"
    submit: bool | None = None
    label: str | None = None
    onClickAction: ActionConfig | None = None
    iconStart: IconName | None = None
    iconEnd: IconName | None = None
    style: Literal["primary", "secondary"] | None = None
    iconSize: Literal["sm", "md", "lg", "xl", "2xl"] | None = None
    color: Literal["primary", "secondary", "info", "discovery", "success", "caution", "warning", "danger"] | None = None
    variant: ControlVariant | None = None
    size: ControlSize | None = None
    pill: bool | None = None
    uniform: bool | None = None
    block: bool | None = None
    disabled: bool | None = None


@named_widget
class Select(WidgetComponentBase):
    """A drop-down list."""

    type: Literal["Select"] = "Select"
    name: str
    options: list[SelectOption]
    onChangeAction: ActionConfig | None = None
    placeholder: str | None = None
    defaultValue: str | None = None
    variant: ControlVariant | None = None
    size: ControlSize | None = None
    pill: bool | None = None
    block: bool | None = None
    clearable: bool | None = None
    disabled: bool | None = None
    searchable: bool | None = None


@named_widget
class DatePicker(WidgetComponentBase):
    """A date input."""

    type: Literal["DatePicker"] = "DatePicker"
    name: str
    onChangeAction: ActionConfig | None = None
    placeholder: str | None = None
    defaultValue: datetime | None = None
    min: datetime | None = None
    max: datetime | None = None
    variant: ControlVariant | None = None
    size: ControlSize | None = None
    side: Literal["top", "bottom", "left", "right"] | None = None
    align: Literal["start", "center", "end"] | None = None
    pill: bool | None = None
    block: bool | None = None
    clearable: bool | None = None
    disabled: bool | None = None


@named_widget
class Checkbox(WidgetComponentBase):
    """A checkbox."""

    type: Literal["Checkbox"] = "Checkbox"
    name: str
    label: str | None = None
    defaultChecked: bool | None = None
    onChangeAction: ActionConfig | None = None
    disabled: bool | None = None
    required: bool | None = None


@named_widget
class Input(WidgetComponentBase):
    """A one-line text field."""

    type: Literal["Input"] = "Input"
    name: str
    inputType: Literal["number", "email", "text", "password", "tel", "url"] | None = None
    defaultValue: str | None = None
    required: bool | None = None
    pattern: str | None = None
    placeholder: str | None = None
    allowAutofillExtensions: bool | None = None
    autoSelect: bool | None = None
    autoFocus: bool | None = None
    disabled: bool | None = None
    variant: Literal["soft", "outline"] | None = None
    size: ControlSize | None = None
    gutterSize: Literal["2xs", "xs", "sm", "md", "lg", "xl"] | None = None
    pill: bool | None = None


@named_widget
class Label(WidgetComponentBase):
    """The label of a form field."""

    type: Literal["Label"] = "Label"
    value: str
    fieldName: str
    size: TextSize | None = None
    weight: Literal["normal", "medium", "semibold", "bold"] | None = None
    textAlign: TextAlign | None = None
    color: str | ThemeColor | None = None


@named_widget
class RadioGroup(WidgetComponentBase):
    """A set of radio buttons."""

    type: Literal["RadioGroup"] = "RadioGroup"
    name: str
    options: list[RadioOption] | None = None
    ariaLabel: str | None = None
    onChangeAction: ActionConfig | None = None
    defaultValue: str | None = None
    direction: Literal["row", "col"] | None = None
    disabled: bool | None = None
    required: bool | None = None


@named_widget
class Textarea(WidgetComponentBase):
    """A multi-line text field."""

    type: Literal["Textarea"] = "Textarea"
    name: str
    defaultValue: str | None = None
    required: bool | None = None
    pattern: str | None = None
    placeholder: str | None = None
    autoSelect: bool | None = None
    autoFocus: bool | None = None
    disabled: bool | None = None
    variant: Literal["soft", "outline"] | None = None
    size: ControlSize | None = None
    gutterSize: Literal["2xs", "xs", "sm", "md", "lg", "xl"] | None = None
    rows: int | None = None
    autoResize: bool | None = None
    maxRows: int | None = None
    allowAutofillExtensions: bool | None = None
