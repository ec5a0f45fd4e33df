"""Charts drawn on the server: the geometry of bar, duration and matrix charts, which the macros
of templates/charts.html turn into SVG (and the same numbers into a table for screen readers).
No JavaScript: the console's Content-Security-Policy allows none inline, and a chart that is
an image of known numbers needs none.

A value is a `Total`: the sum of the published cells that went into it, and how many cells
were suppressed ("<5"). A suppressed cell is never read as a number: a total with suppressed
cells is shown as "≥ n" (at least the published part), or "<5" when it is one suppressed
cell alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shared.protocol.figures import SUPPRESSED

# SVG user units; the SVG is scaled to the width of its column (phone first).
WIDTH = 320
BAR_AREA = 240  # the longest bar; the rest of the row holds its value
ROW = 40  # a label line, then the bar
LABEL_BASELINE = 14
BAR_TOP = 19
BAR_HEIGHT = 14


@dataclass(frozen=True)
class Total:
    published: int = 0  # the sum of the cells with a published value
    suppressed: int = 0  # how many cells were suppressed

    def __add__(self, other: Total) -> Total:
        return Total(self.published + other.published, self.suppressed + other.suppressed)

    @classmethod
    def of(cls, value: int | None) -> Total:
        return cls(0, 1) if value is None else cls(value, 0)

    @property
    def display(self) -> str:
        if not self.suppressed:
            return str(self.published)
        if self.published == 0 and self.suppressed == 1:
            return SUPPRESSED
        return f"≥ {self.published}" if self.published else f"{SUPPRESSED} \u00d7{self.suppressed}"


def total(values: Iterable[int | None]) -> Total:
    result = Total()
    for value in values:
        result += Total.of(value)
    return result


@dataclass(frozen=True)
class Row:
    """Where a chart's row stands: its label above, its bar below (in user units)."""

    label: str
    top: float  # of the row
    length: float  # of the bar, 0 for nothing to draw

    @property
    def label_y(self) -> float:
        return self.top + LABEL_BASELINE

    @property
    def bar_y(self) -> float:
        return self.top + BAR_TOP

    @property
    def value_x(self) -> float:
        return self.length + 6

    @property
    def value_y(self) -> float:
        return self.bar_y + BAR_HEIGHT - 2


@dataclass(frozen=True)
class Bar(Row):
    display: str
    partial: bool  # suppressed cells are not in the length


@dataclass(frozen=True)
class BarChart:
    bars: list[Bar]
    height: int
    width: int = WIDTH
    bar_height: int = BAR_HEIGHT


def bar_chart(rows: Iterable[tuple[str, Total]]) -> BarChart:
    """Horizontal bars, one per row in the given order, the longest the largest published
    total; a row's label above its bar, so that long labels fit on a phone."""
    listed = list(rows)
    biggest = max((t.published for _, t in listed), default=0)
    bars = [Bar(label=label, top=n * ROW, length=_scaled(t.published, biggest),
                display=t.display, partial=t.suppressed > 0)
            for n, (label, t) in enumerate(listed)]
    return BarChart(bars, max(len(bars), 1) * ROW)


@dataclass(frozen=True)
class Duration:
    label: str
    median_seconds: int | None  # None: measured over too few items, suppressed
    p90_seconds: int | None
    count: str  # how many items were measured, as published


@dataclass(frozen=True)
class DurationBar(Row):
    """`length` is to the median."""

    median: str  # formatted
    p90: str
    count: str
    p90_x: float | None  # where the 90th percentile mark stands; None when suppressed

    @property
    def mark_top(self) -> float:
        return self.bar_y - 3

    @property
    def mark_bottom(self) -> float:
        return self.bar_y + BAR_HEIGHT + 3

    @property
    def whisker_y(self) -> float:
        return self.bar_y + BAR_HEIGHT / 2

    @property
    def value_x(self) -> float:
        return max(self.length, self.p90_x or 0) + 6


@dataclass(frozen=True)
class DurationChart:
    bars: list[DurationBar]
    height: int
    width: int = WIDTH
    bar_height: int = BAR_HEIGHT


def duration_chart(rows: Iterable[Duration]) -> DurationChart:
    """A bar to each row's median with a mark at its 90th percentile, all on one scale (the
    largest 90th percentile); a suppressed row has no bar and says "<5"."""
    listed = list(rows)
    longest = max((r.p90_seconds or 0 for r in listed), default=0)
    bars = []
    for n, row in enumerate(listed):
        shown = row.median_seconds is not None and row.p90_seconds is not None
        bars.append(DurationBar(
            label=row.label, top=n * ROW,
            length=_scaled(row.median_seconds or 0, longest) if shown else 0,
            median=duration_text(row.median_seconds) if shown else SUPPRESSED,
            p90=duration_text(row.p90_seconds) if shown else SUPPRESSED,
            count=row.count,
            p90_x=_scaled(row.p90_seconds or 0, longest) if shown else None))
    return DurationChart(bars, max(len(bars), 1) * ROW)


def duration_text(seconds: int | None) -> str:
    """A duration as a person reads it at a glance, in units both languages write alike."""
    if seconds is None:
        return SUPPRESSED
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 120 * 60:
        return f"{round(seconds / 60)} min"
    if seconds < 48 * 3600:
        return f"{round(seconds / 3600)} h"
    return f"{round(seconds / 86400)} d"


@dataclass(frozen=True)
class MatrixCell:
    display: str
    shade: int  # 0 (nothing published) to 4 (the largest), a CSS class


@dataclass(frozen=True)
class Matrix:
    rows: list[str]  # labels
    columns: list[str]
    cells: list[list[MatrixCell]]  # by row, then column


SHADES = 4


def matrix(row_labels: list[str], column_labels: list[str],
           totals: dict[tuple[int, int], Total]) -> Matrix:
    """A table of totals (row index, column index); a pair absent from them counted none."""
    biggest = max((t.published for t in totals.values()), default=0)
    cells = [[_matrix_cell(totals.get((r, c)), biggest) for c in range(len(column_labels))]
             for r in range(len(row_labels))]
    return Matrix(row_labels, column_labels, cells)


def _matrix_cell(found: Total | None, biggest: int) -> MatrixCell:
    if found is None:
        return MatrixCell("0", 0)
    shade = 0 if not biggest or not found.published else \
        max(1, round(SHADES * found.published / biggest))
    return MatrixCell(found.display, shade)


def _scaled(value: int, biggest: int) -> float:
    return round(BAR_AREA * value / biggest, 1) if biggest else 0.0
