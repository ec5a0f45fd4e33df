"""The statistics the registry keeps: each institution's newest report and its cells (one
column per fixed dimension, so the region is a GROUP BY), and what it refused."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from shared.kit.db import UTCDateTime, utcnow
from shared.protocol.figures import Dimension

# The dimensions an indicator may have as fixed ones: each has its column in
# statistics_cells. A breakdown is kept as its name and value.
FIXED_COLUMNS: tuple[Dimension, ...] = (
    Dimension.origin, Dimension.destination, Dimension.country, Dimension.target,
    Dimension.month, Dimension.outcome)


class StatisticsReportRow(SQLModel, table=True):
    """The report in force of one institution: the newest by `computed_at`."""

    __tablename__ = "statistics_reports"

    institution_id: str = Field(primary_key=True, max_length=64)
    country: str = Field(max_length=2, index=True)
    report_id: str = Field(max_length=36)
    computed_at: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    cells: int = 0


class CellColumns(SQLModel):
    """A cell's columns. Absent dimensions are "" (not null), so that they group and compare
    as plain values."""

    institution_id: str = Field(max_length=64, index=True)
    indicator: str = Field(max_length=40)
    breakdown: str = Field(default="", max_length=40)  # the breakdown's dimension, or ""
    breakdown_value: str = Field(default="", max_length=64)
    origin: str = Field(default="", max_length=2)
    destination: str = Field(default="", max_length=2)
    country: str = Field(default="", max_length=2)
    target: str = Field(default="", max_length=2)
    month: str = Field(default="", max_length=7)
    outcome: str = Field(default="", max_length=64)
    count: int
    median_seconds: int | None = None
    p90_seconds: int | None = None


class StatisticsCellRow(CellColumns, table=True):
    """One cell of a report in force."""

    __tablename__ = "statistics_cells"
    __table_args__ = (Index("ix_statistics_cells_indicator", "indicator", "breakdown"),)

    id: int | None = Field(default=None, primary_key=True)


class StatisticsPartRow(SQLModel, table=True):
    """A part received of a report in several parts, not yet complete: kept (with its cells
    in statistics_part_cells) until the report's last part arrives, a newer report of the
    institution is in force, or it is PENDING_PART_HOURS old."""

    __tablename__ = "statistics_parts"

    institution_id: str = Field(primary_key=True, max_length=64)
    report_id: str = Field(primary_key=True, max_length=36)
    part: int = Field(primary_key=True)
    parts: int
    country: str = Field(max_length=2)
    computed_at: datetime = Field(sa_type=UTCDateTime)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class StatisticsPartCellRow(CellColumns, table=True):
    """One cell of a part waiting for the rest of its report."""

    __tablename__ = "statistics_part_cells"
    __table_args__ = (Index("ix_statistics_part_cells_report", "institution_id", "report_id"),)

    id: int | None = Field(default=None, primary_key=True)
    report_id: str = Field(max_length=36)


class StatisticsRefusal(SQLModel, table=True):
    """A statistics message refused, and why: its hash and size, the subject's country and
    the claimed institution if it fits its pattern; never its content."""

    __tablename__ = "statistics_refusals"

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    subject_country: str | None = Field(default=None, max_length=2)
    reason: str = Field(max_length=40, index=True)
    sha256: str = Field(max_length=64, unique=True)
    size: int
    institution_id: str | None = Field(default=None, max_length=64)


FIGURE_MODELS = (StatisticsReportRow, StatisticsCellRow, StatisticsRefusal, StatisticsPartRow,
                 StatisticsPartCellRow)
