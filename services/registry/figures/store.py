"""The statistics tables' queries: a report replacing an institution's cells (a delete
and inserts of many rows at once; a report in parts waits in statistics_parts until its
last part, then moves in by one INSERT ... SELECT), the refusals, and the region's cells
grouped at a table's granularity (a GROUP BY over columns: no row is read one by one)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, tuple_
from sqlalchemy import select as select_columns
from sqlmodel import col, select

from services.registry.figures.models import (
    FIXED_COLUMNS,
    StatisticsCellRow,
    StatisticsPartCellRow,
    StatisticsPartRow,
    StatisticsRefusal,
    StatisticsReportRow,
)
from shared.kit.db import Repository, utcnow
from shared.protocol.figures import CATALOGUE, Cell, Indicator, StatisticsReport

Key = tuple[str, ...]

CELL_TABLE = StatisticsCellRow.__table__  # type: ignore[attr-defined]
PART_TABLE = StatisticsPartRow.__table__  # type: ignore[attr-defined]
PART_CELL_TABLE = StatisticsPartCellRow.__table__  # type: ignore[attr-defined]



EMPTY_FIXED = {d.value: "" for d in FIXED_COLUMNS}
# Per indicator, its name and its fixed dimensions, as plain strings (an enum member's
# `.value` is slow to read thousands of times).
FIXED_OF = {i: (i.value, frozenset(d.value for d in spec.dimensions))
            for i, spec in CATALOGUE.items()}


def cell_row(institution_id: str, cell: Cell) -> dict[str, Any]:
    indicator, fixed = FIXED_OF[cell.indicator]
    row: dict[str, Any] = {"institution_id": institution_id, "indicator": indicator,
                           "breakdown": "", "breakdown_value": "", "count": cell.count,
                           "median_seconds": cell.median_seconds,
                           "p90_seconds": cell.p90_seconds, **EMPTY_FIXED}
    for dimension, value in cell.dims.items():
        name = str.__str__(dimension)
        if name in fixed:
            row[name] = value
        else:
            row["breakdown"], row["breakdown_value"] = name, value
    return row


CELL_COLUMNS = ("institution_id", "indicator", "breakdown", "breakdown_value",
                *(d.value for d in FIXED_COLUMNS), "count", "median_seconds", "p90_seconds")
INSERT_ROWS = 10_000  # rows per executemany


class StatisticsRepository(Repository):
    def report_of(self, institution_id: str) -> StatisticsReportRow | None:
        return self.session.get(StatisticsReportRow, institution_id)

    def replace_report(self, report: StatisticsReport) -> bool:
        """Make `report` (in one part) its institution's report in force, unless the one in
        force was computed at the same time or later (then False: the report is ignored)."""
        current = self.report_of(report.institution_id)
        if current is not None and current.computed_at >= report.computed_at:
            return False
        connection = self.session.connection()
        connection.execute(delete(CELL_TABLE).where(
            CELL_TABLE.c.institution_id == report.institution_id))
        self._insert(CELL_TABLE, [cell_row(report.institution_id, c) for c in report.cells])
        self._forget_parts(report.institution_id, report.computed_at)
        self._in_force(current, report, len(report.cells))
        return True

    def take_part(self, part: StatisticsReport) -> bool | str:
        """Keep a part of a report in several parts; once all have arrived, make the report
        its institution's report in force (True) unless its parts repeat a cell (then the
        refusal's code). False when the part is kept, or ignored: older than the report in
        force, received before, or not alike its report's other parts (then the code)."""
        institution = part.institution_id
        current = self.report_of(institution)
        if current is not None and current.computed_at >= part.computed_at:
            return False
        mine = (PART_TABLE.c.institution_id == institution) & (
            PART_TABLE.c.report_id == part.report_id)
        connection = self.session.connection()
        received = connection.execute(select_columns(
            PART_TABLE.c.part, PART_TABLE.c.parts, PART_TABLE.c.country,
            PART_TABLE.c.computed_at).where(mine)).all()
        if any(r.part == part.part for r in received):
            return False
        if any((r.parts, r.country) != (part.parts, part.country)
               or r.computed_at != part.computed_at for r in received):
            return "inconsistent_parts"
        connection.execute(insert(PART_TABLE).values(
            institution_id=institution, report_id=part.report_id, part=part.part,
            parts=part.parts, country=part.country, computed_at=part.computed_at,
            received_at=utcnow()))
        self._insert(PART_CELL_TABLE, [{**cell_row(institution, c), "report_id": part.report_id}
                                       for c in part.cells])
        if len(received) + 1 < part.parts:
            return False
        waiting = (PART_CELL_TABLE.c.institution_id == institution) & (
            PART_CELL_TABLE.c.report_id == part.report_id)
        key = [PART_CELL_TABLE.c[c] for c in CELL_COLUMNS[1:-3]]
        twice = connection.execute(select_columns(func.count()).select_from(
            select_columns(*key).where(waiting).group_by(*key)
            .having(func.count() > 1).subquery())).scalar_one()
        if twice:
            connection.execute(delete(PART_CELL_TABLE).where(waiting))
            connection.execute(delete(PART_TABLE).where(mine))
            return "duplicate_cell"
        connection.execute(delete(CELL_TABLE).where(CELL_TABLE.c.institution_id == institution))
        columns = [PART_CELL_TABLE.c[c] for c in CELL_COLUMNS]
        cells = connection.execute(CELL_TABLE.insert().from_select(
            list(CELL_COLUMNS), select_columns(*columns).where(waiting))).rowcount
        self._forget_parts(institution, part.computed_at)
        self._in_force(current, part, cells)
        return True

    def forget_stale_parts(self, received_before: datetime) -> None:
        """Parts of reports that never completed, received before `received_before`."""
        connection = self.session.connection()
        stale = select_columns(PART_TABLE.c.institution_id, PART_TABLE.c.report_id).where(
            PART_TABLE.c.received_at < received_before)
        connection.execute(delete(PART_CELL_TABLE).where(
            tuple_(PART_CELL_TABLE.c.institution_id, PART_CELL_TABLE.c.report_id).in_(stale)))
        connection.execute(delete(PART_TABLE).where(PART_TABLE.c.received_at < received_before))

    def _forget_parts(self, institution_id: str, computed_up_to: datetime) -> None:
        """The parts of the institution's reports computed up to the one now in force."""
        connection = self.session.connection()
        done = select_columns(PART_TABLE.c.report_id).where(
            (PART_TABLE.c.institution_id == institution_id)
            & (PART_TABLE.c.computed_at <= computed_up_to))
        connection.execute(delete(PART_CELL_TABLE).where(
            (PART_CELL_TABLE.c.institution_id == institution_id)
            & PART_CELL_TABLE.c.report_id.in_(done)))
        connection.execute(delete(PART_TABLE).where(
            (PART_TABLE.c.institution_id == institution_id)
            & (PART_TABLE.c.computed_at <= computed_up_to)))

    def _insert(self, table: Any, rows: list[dict[str, Any]]) -> None:
        connection = self.session.connection()
        for i in range(0, len(rows), INSERT_ROWS):
            connection.execute(insert(table), rows[i:i + INSERT_ROWS])

    def _in_force(self, current: StatisticsReportRow | None, report: StatisticsReport,
                  cells: int) -> None:
        if current is None:
            current = StatisticsReportRow(institution_id=report.institution_id,
                                          country=report.country, report_id=report.report_id,
                                          computed_at=report.computed_at)
        current.country, current.report_id = report.country, report.report_id
        current.computed_at, current.cells = report.computed_at, cells
        current.received_at = utcnow()
        self.add(current)

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
