"""The statistics tables' queries: a report replacing an institution's cells, the
refusals, and the region's cells grouped at a table's granularity (a GROUP BY over
columns: no row is read one by one)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert
from sqlalchemy import select as select_columns
from sqlmodel import col, select

from services.registry.figures.models import (
    FIXED_COLUMNS,
    StatisticsCellRow,
    StatisticsRefusal,
    StatisticsReportRow,
)
from shared.kit.db import Repository
from shared.protocol.figures import CATALOGUE, Cell, Indicator, StatisticsReport

Key = tuple[str, ...]

CELL_TABLE = StatisticsCellRow.__table__  # type: ignore[attr-defined]


def cell_row(institution_id: str, cell: Cell) -> dict[str, Any]:
    fixed = CATALOGUE[cell.indicator].dimensions
    row: dict[str, Any] = {"institution_id": institution_id, "indicator": cell.indicator.value,
                           "breakdown": "", "breakdown_value": "", "count": cell.count,
                           "median_seconds": cell.median_seconds,
                           "p90_seconds": cell.p90_seconds}
    row.update({d.value: "" for d in FIXED_COLUMNS})
    for dimension, value in cell.dims.items():
        if dimension in fixed:
            row[dimension.value] = value
        else:
            row["breakdown"], row["breakdown_value"] = dimension.value, value
    return row


class StatisticsRepository(Repository):
    def report_of(self, institution_id: str) -> StatisticsReportRow | None:
        return self.session.get(StatisticsReportRow, institution_id)

    def replace_report(self, report: StatisticsReport) -> bool:
        """Make `report` its institution's report in force, unless the one in force was
        computed at the same time or later (then False: the report is ignored)."""
        current = self.report_of(report.institution_id)
        if current is not None and current.computed_at >= report.computed_at:
            return False
        connection = self.session.connection()
        connection.execute(delete(CELL_TABLE).where(
            CELL_TABLE.c.institution_id == report.institution_id))
        rows = [cell_row(report.institution_id, c) for c in report.cells]
        for i in range(0, len(rows), 10_000):
            connection.execute(insert(CELL_TABLE), rows[i:i + 10_000])
        if current is None:
            current = StatisticsReportRow(institution_id=report.institution_id,
                                          country=report.country, report_id=report.report_id,
                                          computed_at=report.computed_at)
        current.country, current.report_id = report.country, report.report_id
        current.computed_at, current.cells = report.computed_at, len(rows)
        self.add(current)
        return True

    def refuse(self, rows: list[StatisticsRefusal]) -> int:
        """Store refusals not stored before (by the hash of the message's bytes)."""
        hashes = {r.sha256 for r in rows}
        known = set(self.session.exec(select(StatisticsRefusal.sha256).where(
            col(StatisticsRefusal.sha256).in_(hashes)))) if hashes else set()
        fresh = {r.sha256: r for r in rows if r.sha256 not in known}
        self.session.add_all(fresh.values())
        return len(fresh)

    def refusals(self, after_id: int = 0, limit: int = 100) -> list[StatisticsRefusal]:
        return list(self.session.exec(
            select(StatisticsRefusal).where(col(StatisticsRefusal.id) > after_id)
            .order_by(col(StatisticsRefusal.id)).limit(limit)))

    def reports_in_force(self) -> tuple[tuple[str, str], ...]:
        """(institution, report id) of every report in force: what the region is made of."""
        return tuple(self.session.exec(
            select(StatisticsReportRow.institution_id, StatisticsReportRow.report_id)
            .order_by(col(StatisticsReportRow.institution_id))))

    def oldest_report(self) -> datetime | None:
        return self.session.exec(select(func.min(StatisticsReportRow.computed_at))).first()

    def grouped(self, indicator: Indicator
                ) -> list[tuple[str, Key, int, int, int | None, int | None]]:
        """The region's cells of one indicator, summed over institutions: per breakdown
        ("" for none) and values (the fixed dimensions' in the catalogue's order, then the
        breakdown's), the count, how many cells were summed, and their median and 90th
        percentile (meaningful only when a single cell is summed: durations are not)."""
        fixed = CATALOGUE[indicator].dimensions
        columns: list[Any] = [CELL_TABLE.c.breakdown, *(CELL_TABLE.c[d.value] for d in fixed),
                              CELL_TABLE.c.breakdown_value]
        query = (select_columns(*columns, func.sum(CELL_TABLE.c["count"]), func.count(),
                                func.min(CELL_TABLE.c.median_seconds),
                                func.min(CELL_TABLE.c.p90_seconds))
                 .where(CELL_TABLE.c.indicator == indicator.value)
                 .group_by(*columns))
        width = len(columns)
        found = []
        for row in self.session.execute(query):
            breakdown = str(row[0])
            values = tuple(str(v) for v in row[1:width - 1])
            key = (*values, str(row[width - 1])) if breakdown else values
            found.append((breakdown, key, int(row[width]), int(row[width + 1]),
                          row[width + 2], row[width + 3]))
        return found
