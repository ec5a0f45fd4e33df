"""A country's own figures at its gateway, in full detail (no suppression): for its
administrators and supervisors (docs/figures.md, "Who sees what")."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlmodel import Session, col

from services.exchange.alerts.models import Alert
from services.exchange.figures.aggregate import cells_of
from services.exchange.figures.models import QuarantineTally, ReferralTally
from shared.kit.errors import Unprocessable
from shared.protocol.auth import Principal, Role, require_role
from shared.protocol.figures import (
    CATALOGUE,
    Cell,
    Dimension,
    FigureQuery,
    FigureTable,
    PublishedCell,
    Source,
)

OWN_FIGURES_ROLES = (Role.country_admin, Role.supervisor)
COUNTRY_DIMENSIONS = (Dimension.origin, Dimension.country)


def check_query(query: FigureQuery) -> None:
    spec = CATALOGUE[query.indicator]
    if spec.source is not Source.gateway:
        raise Unprocessable("This indicator is counted by the registry, not by a gateway.",
                            code="indicator_not_at_gateway")
    if query.by is not None and query.by not in spec.breakdowns:
        raise Unprocessable("This indicator cannot be broken down by that dimension.",
                            code="breakdown_not_allowed",
                            allowed=[b.value for b in spec.breakdowns])
    if query.since and query.until and query.since > query.until:
        raise Unprocessable("The period ends before it starts.", code="invalid_period")


def institutions_here(session: Session) -> list[str]:
    """Every institution with facts here (all hosted by this gateway)."""
    found: set[str] = set()
    for query in (select(col(ReferralTally.institution_id)).distinct(),
                  select(col(Alert.issuer_id)).where(col(Alert.direction) == "outbound")
                  .distinct(),
                  select(col(QuarantineTally.institution_id)).distinct()):
        found.update(session.execute(query).scalars())
    return sorted(found)


def selected(cell: Cell, query: FigureQuery) -> bool:
    wanted = {*CATALOGUE[query.indicator].dimensions, *([query.by] if query.by else [])}
    if set(cell.dims) != wanted:
        return False
    month = cell.dims.get(Dimension.month)
    if month is not None and ((query.since and month < query.since)
                              or (query.until and month > query.until)):
        return False
    countries = {cell.dims[d] for d in COUNTRY_DIMENSIONS if d in cell.dims}
    return not query.countries or bool(countries & set(query.countries))


def own_figures(session: Session, principal: Principal, query: FigureQuery) -> FigureTable:
    require_role(principal, *OWN_FIGURES_ROLES)
    check_query(query)
    computed_at = datetime.now(UTC)
    order = [*CATALOGUE[query.indicator].dimensions, *([query.by] if query.by else [])]
    cells = [c for c in cells_of(session, institutions_here(session), principal.country,
                                 query.indicator) if selected(c, query)]
    cells.sort(key=lambda c: [c.dims[d] for d in order])
    return FigureTable(query=query, suppressed=False, computed_at=computed_at, cells=[
        PublishedCell(dims=c.dims, value=c.count, display=str(c.count),
                      median_seconds=c.median_seconds, p90_seconds=c.p90_seconds)
        for c in cells])


def table_rows(table: FigureTable) -> tuple[list[str], list[list[object]]]:
    """The table as CSV: a column per dimension, the value, and a duration's two seconds."""
    query = table.query
    spec = CATALOGUE[query.indicator]
    order = [*spec.dimensions, *([query.by] if query.by else [])]
    timed = spec.kind.value == "duration"
    header = [d.value for d in order] + ["value"] + (
        ["median_seconds", "p90_seconds"] if timed else [])
    rows: list[list[object]] = []
    for cell in table.cells:
        row: list[object] = [*(cell.dims[d] for d in order), cell.display]
        if timed:
            row += [cell.median_seconds, cell.p90_seconds]
        rows.append(row)
    return header, rows
