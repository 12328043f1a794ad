"""Containers and roots: the recursive part of the widget tree, and its unions."""

# Each component narrows the base's `type: str` to its own Literal, which is how pydantic tells
# components apart; pyright reads that as an unsafe override of a mutable attribute.
# pyright: reportIncompatibleVariableOverride=false

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from chatkit.actions import ActionConfig
from chatkit.widgets.base import WidgetComponentBase, named_widget
from chatkit.widgets.charts import Chart
from chatkit.widgets.content import Badge, Caption, Divider, Icon, Image, Markdown, Spacer, Text, Title
from chatkit.widgets.controls import Button, Checkbox, DatePicker, Input, Label, RadioGroup, Select, Textarea
from chatkit.widgets.styles import (
    Alignment,
    Border,
    Borders,
    CardAction,
    Justification,
    RadiusValue,
    Spacing,
    TableCellAlign,
    TableColSize,
    ThemeColor,
    WidgetStatusWithFavicon,
    WidgetStatusWithIcon,
)


class BoxBase(BaseModel):
    """Layout props shared by every flex container."""

    children: list[WidgetComponent] | None = None
    align: Alignment | None = None
    justify: Justification | None = None
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
    radius: RadiusValue | None = None
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


@named_widget
class Table(WidgetComponentBase):
    """A table: rows of cells (the client's `Table`; not in the reference)."""

    type: Literal["Table"] = "Table"
    children: list[TableRow] | None = None


@named_widget
class TableRow(WidgetComponentBase):
    """One row of a `Table`; a `header` row is styled as column headings."""

    type: Literal["Table.Row"] = "Table.Row"
    children: list[TableCell] | None = None
    header: bool | None = None


@named_widget
class TableCell(WidgetComponentBase):
    """One cell of a `TableRow`, holding any components."""

    type: Literal["Table.Cell"] = "Table.Cell"
    children: list[WidgetComponent] | None = None
    width: float | str | None = None
    padding: Spacing | None = None
    colSpan: int | None = None
    rowSpan: int | None = None
    align: TableCellAlign | None = None
    vAlign: TableCellAlign | None = None
    colSize: TableColSize | None = None


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


# The reference's unions, spelled as it spells them: typing.Union keeps the schema's definition
# names identical to the reference's.
StrictWidgetComponent = Annotated[
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
]
"""A named component of the reference, picked by its `type`."""

StrictWidgetRoot = Annotated[Card | ListView | BasicRoot, Field(discriminator="type")]
"""A named widget root, picked by its `type`."""

# The table components are ours (the client renders them, the reference lacks them). They are
# validated as what they are but left out of the published JSON Schema, which stays the
# reference's: there a table still matches `DynamicWidgetComponent`, as any component may.
_TableComponent = SkipJsonSchema[Annotated[Table | TableRow | TableCell, Field(discriminator="type")]]

WidgetComponent = Union[StrictWidgetComponent, _TableComponent, DynamicWidgetComponent]  # noqa: UP007
"""Any component: a named one by its `type`, else loose data."""

WidgetRoot = Union[StrictWidgetRoot, DynamicWidgetRoot]  # noqa: UP007
"""Any widget root: `Card`, `ListView` or `Basic`, named or loose."""
