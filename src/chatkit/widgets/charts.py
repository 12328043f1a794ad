"""Charts: bar, area and line series over rows of data."""

# Each component narrows the base's `type: str` to its own Literal, which is how pydantic tells
# components apart; pyright reads that as an unsafe override of a mutable attribute.
# pyright: reportIncompatibleVariableOverride=false

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from chatkit.widgets.base import WidgetComponentBase, named_widget
from chatkit.widgets.styles import ThemeColor, XAxisConfig

CurveType = Literal[
    "basis", "basisClosed", "basisOpen", "bumpX", "bumpY", "bump", "linear", "linearClosed",
    "natural", "monotoneX", "monotoneY", "monotone", "step", "stepBefore", "stepAfter",
]  # fmt: skip


@named_widget
class BarSeries(BaseModel):
    """A bar series of a `Chart`."""

    type: Literal["bar"] = "bar"
    label: str | None
    dataKey: str
    stack: str | None = None
    color: str | ThemeColor | None = None


@named_widget
class AreaSeries(BaseModel):
    """An area series of a `Chart`."""

    type: Literal["area"] = "area"
    label: str | None
    dataKey: str
    stack: str | None = None
    color: str | ThemeColor | None = None
    curveType: CurveType | None = None


@named_widget
class LineSeries(BaseModel):
    """A line series of a `Chart`."""

    type: Literal["line"] = "line"
    label: str | None
    dataKey: str
    color: str | ThemeColor | None = None
    curveType: CurveType | None = None


Series = Annotated[BarSeries | AreaSeries | LineSeries, Field(discriminator="type")]
"""One series of a `Chart`, told apart by its `type`."""


@named_widget
class Chart(WidgetComponentBase):
    """A bar, area or line chart over rows of data."""

    type: Literal["Chart"] = "Chart"
    data: list[dict[str, str | int | float]]
    series: list[Series]
    xAxis: str | XAxisConfig
    showYAxis: bool | None = None
    showLegend: bool | None = None
    showTooltip: bool | None = None
    barGap: int | None = None
    barCategoryGap: int | None = None
    flex: int | str | None = None
    height: int | str | None = None
    width: int | str | None = None
    size: int | str | None = None
    minHeight: int | str | None = None
    minWidth: int | str | None = None
    minSize: int | str | None = None
    maxHeight: int | str | None = None
    maxWidth: int | str | None = None
    maxSize: int | str | None = None
    aspectRatio: float | str | None = None
