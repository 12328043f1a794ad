"""Widgets: rich, interactive UI the assistant puts in a thread.

Write widgets as `.widget` files and build them with `WidgetTemplate`; the named component
classes still work but are deprecated for direct use, as in the reference SDK.
"""

from chatkit.actions import ActionConfig
from chatkit.icons import IconName
from chatkit.widgets.base import WidgetComponentBase
from chatkit.widgets.charts import AreaSeries, BarSeries, Chart, CurveType, LineSeries, Series
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
    StrictWidgetComponent,
    StrictWidgetRoot,
    Table,
    TableCell,
    TableRow,
    Transition,
    WidgetComponent,
    WidgetRoot,
)
from chatkit.widgets.styles import (
    Alignment,
    Border,
    Borders,
    CaptionSize,
    CardAction,
    ControlSize,
    ControlVariant,
    EditableProps,
    IconSize,
    Justification,
    MinMax,
    RadioOption,
    RadiusValue,
    SelectOption,
    Spacing,
    TableCellAlign,
    TableColSize,
    TextAlign,
    TextSize,
    ThemeColor,
    TitleSize,
    WidgetIcon,
    WidgetStatusWithFavicon,
    WidgetStatusWithIcon,
    XAxisConfig,
)
from chatkit.widgets.template import WidgetTemplate

WidgetStatus = WidgetStatusWithFavicon | WidgetStatusWithIcon
"""The status line of a `Card` or `ListView`."""

__all__ = [
    "ActionConfig", "Alignment", "AreaSeries", "Badge", "BarSeries", "BasicRoot", "Border", "Borders",
    "Box", "BoxBase", "Button", "Caption", "CaptionSize", "Card", "CardAction", "Chart", "Checkbox",
    "Col", "ControlSize", "ControlVariant", "CurveType", "DatePicker", "Divider",
    "DynamicWidgetComponent", "DynamicWidgetRoot", "EditableProps", "Form", "Icon", "IconName",
    "IconSize", "Image", "Input", "Justification", "Label", "LineSeries", "ListView", "ListViewItem",
    "Markdown", "MinMax", "RadioGroup", "RadioOption", "RadiusValue", "Row", "Select", "SelectOption",
    "Series", "Spacer", "Spacing", "StrictWidgetComponent", "StrictWidgetRoot", "Table", "TableCell",
    "TableCellAlign", "TableColSize", "TableRow", "Text", "TextAlign", "TextSize", "Textarea",
    "ThemeColor", "Title", "TitleSize", "Transition", "WidgetComponent", "WidgetComponentBase",
    "WidgetIcon", "WidgetRoot", "WidgetStatus", "WidgetStatusWithFavicon", "WidgetStatusWithIcon",
    "WidgetTemplate", "XAxisConfig",
]  # fmt: skip
