"""Widgets: rich, interactive UI the assistant puts in a thread.

Write widgets as `.widget` files and build them with `WidgetTemplate`; the named component
classes still work but are deprecated for direct use, as in the reference SDK.
"""

from chatkit.widgets.base import WidgetComponentBase
from chatkit.widgets.charts import AreaSeries, BarSeries, Chart, LineSeries
from chatkit.widgets.content import Badge, Caption, Divider, Icon, Image, Markdown, Spacer, Text, Title
from chatkit.widgets.controls import Button, Checkbox, DatePicker, Input, Label, RadioGroup, Select, Textarea
from chatkit.widgets.layout import (
    BasicRoot,
    Box,
    BoxBase,
    Card,
    Col,
    DynamicWidgetComponent,
    DynamicWidgetRoot,
    Form,
    ListView,
    ListViewItem,
    Row,
    Transition,
    WidgetComponent,
    WidgetRoot,
)
from chatkit.widgets.styles import (
    Border,
    Borders,
    CardAction,
    EditableProps,
    MinMax,
    RadioOption,
    SelectOption,
    Spacing,
    ThemeColor,
    WidgetStatusWithFavicon,
    WidgetStatusWithIcon,
    XAxisConfig,
)
from chatkit.widgets.template import WidgetTemplate

WidgetStatus = WidgetStatusWithFavicon | WidgetStatusWithIcon
"""The status line of a `Card` or `ListView`."""

__all__ = [
    "AreaSeries", "Badge", "BarSeries", "BasicRoot", "Border", "Borders", "Box", "BoxBase", "Button",
    "Caption", "Card", "CardAction", "Chart", "Checkbox", "Col", "DatePicker", "Divider",
    "DynamicWidgetComponent", "DynamicWidgetRoot", "EditableProps", "Form", "Icon", "Image", "Input",
    "Label", "LineSeries", "ListView", "ListViewItem", "Markdown", "MinMax", "RadioGroup",
    "RadioOption", "Row", "Select", "SelectOption", "Spacer", "Spacing", "Text", "Textarea",
    "ThemeColor", "Title", "Transition", "WidgetComponent", "WidgetComponentBase", "WidgetRoot",
    "WidgetStatus", "WidgetStatusWithFavicon", "WidgetStatusWithIcon", "WidgetTemplate", "XAxisConfig",
]  # fmt: skip
