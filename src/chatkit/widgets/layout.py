"""Containers and roots: the recursive part of the widget tree, and its unions."""

# Each component narrows the base's `type: str` to its own Literal, which is how pydantic tells
# components apart; pyright reads that as an unsafe override of a mutable attribute.
# pyright: reportIncompatibleVariableOverride=false

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from chatkit.actions import ActionConfig
from chatkit.widgets.base import WidgetComponentBase, named_widget
from chatkit.widgets.charts import Chart
from chatkit.widgets.content import Badge, Caption, Divider, Icon, Image, Markdown, Spacer, Text, Title
from chatkit.widgets.controls import Button, Checkbox, DatePicker, Input, Label, RadioGroup, Select, Textarea
from chatkit.widgets.styles import (
    Border,
    Borders,
    CardAction,
    Spacing,
    ThemeColor,
    WidgetStatusWithFavicon,
    WidgetStatusWithIcon,
)

Alignment = Literal["start", "center", "end", "baseline", "stretch"]
Radius = Literal["2xs", "xs", "sm", "md", "lg", "xl", "2xl", "3xl", "4xl", "full", "100%", "none"]


class BoxBase(BaseModel):
    """Layout props shared by every flex container."""

    children: list[WidgetComponent] | None = None
    align: Alignment | None = None
    justify: Literal["start", "center", "end", "between", "around", "evenly", "stretch"] | None = None
    wrap: Literal["nowrap", "wrap", "wrap-reverse"] | None = None
    flex: int | str | None = None
    gap: int | str | None = None
    height: float | str | None = None
    width: float | str | None = None
    size: float | str | None = None
    minHeight: int | str | None = None
    minWidth: int | str | None = None
    minSize: int | str | None = None
    maxHeight: int | str | None = None
    maxWidth: int | str | None = None
    maxSize: int | str | None = None
    padding: float | str | Spacing | None = None
    margin: float | str | Spacing | None = None
    border: int | Border | Borders | None = None
    radius: Radius | None = None
    background: str | ThemeColor | None = None
    aspectRatio: float | str | None = None


@named_widget
class Box(WidgetComponentBase, BoxBase):
    """A flex container laid out in `direction`."""

    type: Literal["Box"] = "Box"
    direction: Literal["row", "col"] | None = None


@named_widget
class Row(WidgetComponentBase, BoxBase):
    """A horizontal flex container."""

    type: Literal["Row"] = "Row"


@named_widget
class Col(WidgetComponentBase, BoxBase):
    """A vertical flex container."""

    type: Literal["Col"] = "Col"


@named_widget
class Form(WidgetComponentBase, BoxBase):
    """A container whose fields are submitted together by `onSubmitAction`."""

    type: Literal["Form"] = "Form"
    onSubmitAction: ActionConfig | None = None
    direction: Literal["row", "col"] | None = None


@named_widget
class Transition(WidgetComponentBase):
    """Animates its child when the child changes."""

    type: Literal["Transition"] = "Transition"
    children: WidgetComponent | None


@named_widget
class ListViewItem(WidgetComponentBase):
    """One row of a `ListView`."""

    type: Literal["ListViewItem"] = "ListViewItem"
    children: list[WidgetComponent]
    onClickAction: ActionConfig | None = None
    gap: int | str | None = None
    align: Alignment | None = None


@named_widget
class Card(WidgetComponentBase):
    """A bordered card: the most common widget root."""

    type: Literal["Card"] = "Card"
    asForm: bool | None = None
    children: list[WidgetComponent]
    background: str | ThemeColor | None = None
    size: Literal["sm", "md", "lg", "full"] | None = None
    padding: float | str | Spacing | None = None
    status: WidgetStatusWithFavicon | WidgetStatusWithIcon | None = None
    collapsed: bool | None = None
    confirm: CardAction | None = None
    cancel: CardAction | None = None
    theme: Literal["light", "dark"] | None = None


@named_widget
class ListView(WidgetComponentBase):
    """A list of clickable rows: a widget root."""

    type: Literal["ListView"] = "ListView"
    children: list[ListViewItem]
    limit: int | Literal["auto"] | None = None
    status: WidgetStatusWithFavicon | WidgetStatusWithIcon | None = None
    theme: Literal["light", "dark"] | None = None


class DynamicWidgetComponent(WidgetComponentBase):
    """Any component, kept as loose data (what `.widget` templates produce)."""

    model_config = ConfigDict(extra="allow")

    type: str
    children: DynamicWidgetComponent | list[DynamicWidgetComponent] | None = None


class BasicRoot(DynamicWidgetComponent):
    """A root without chrome around its children."""

    type: Literal["Basic"] = "Basic"


class DynamicWidgetRoot(DynamicWidgetComponent):
    """Any widget root as loose data (what `WidgetTemplate.build` returns)."""

    type: Literal["Card", "ListView", "Basic"]


# typing.Union keeps the schema's definition names identical to the reference's.
WidgetComponent = Union[  # noqa: UP007
    Annotated[
        Text
        | Title
        | Caption
        | Chart
        | Badge
        | Markdown
        | Box
        | Row
        | Col
        | Divider
        | Icon
        | Image
        | ListViewItem
        | Button
        | Checkbox
        | Spacer
        | Select
        | DatePicker
        | Form
        | Input
        | Label
        | RadioGroup
        | Textarea
        | Transition,
        Field(discriminator="type"),
    ],
    DynamicWidgetComponent,
]
"""Any component: a named one by its `type`, else loose data."""

WidgetRoot = Union[  # noqa: UP007
    Annotated[Card | ListView | BasicRoot, Field(discriminator="type")],
    DynamicWidgetRoot,
]
"""Any widget root: `Card`, `ListView` or `Basic`, named or loose."""
