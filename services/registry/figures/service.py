"""Who may read the regional figures, and the tables they read: the region's suppressed set
of one indicator, combined from the reports in force (or counted by the registry)."""

from __future__ import annotations

from sqlmodel import Session

from services.registry.figures.combination import (
    Combined,
    Key,
    published,
    withheld_keys,
)
from services.registry.figures.own_indicators import DirectoryEntries, own_rows
from services.registry.figures.store import StatisticsRepository
from shared.kit.db import utcnow
from shared.kit.errors import Forbidden, Unprocessable
from shared.protocol.auth import Principal
from shared.protocol.figures import CATALOGUE, FigureQuery, FigureTable, Source

# Everyone entitled to the regional figures. A country's people (its administrators and
# supervisors) reach the registry through their gateway, acting for them
# (shared/protocol/acting.py); their own country's full detail is their gateway's to show.
REGIONAL_READERS = frozenset({"regional_admin", "auditor", "country_admin", "supervisor"})


def check_query(query: FigureQuery) -> None:
    spec = CATALOGUE[query.indicator]
    if query.by is not None and query.by not in spec.breakdowns:
        raise Unprocessable("This indicator cannot be broken down by that dimension.",
                            code="breakdown_not_allowed", field="by")
    if query.since and query.until and query.since > query.until:
        raise Unprocessable("The period ends before it starts.", code="invalid_period",
                            field="until")


def may_read(principal: Principal) -> None:
    if principal.role.value not in REGIONAL_READERS:
        raise Forbidden("The regional figures are for regional administrators, auditors, "
                        "and countries' administrators and supervisors.",
                        code="figures_not_allowed")


def regional_figures(session: Session, principal: Principal, query: FigureQuery,
                     directory: DirectoryEntries) -> FigureTable:
    """The region's table for `query`, suppressed (docs/registry.md, "Regional figures")."""
    may_read(principal)
    check_query(query)
    repo = StatisticsRepository(session)
    gateways = CATALOGUE[query.indicator].source is Source.gateway
    now = utcnow()

    def rows(of: FigureQuery) -> dict[Key, Combined]:
        if not gateways:
            return own_rows(session, directory, of, now)
        return {key: Combined(count, contributors, median, p90)
                for key, count, contributors, median, p90 in repo.grouped(of.indicator, of.by)}

    totals = None
    if query.by is not None:
        whole = query.model_copy(update={"by": None})
        totals = withheld_keys(whole, rows(whole))
    return FigureTable(query=query, suppressed=True,
                       computed_at=repo.oldest_report() if gateways else now,
                       cells=published(query, rows(query), totals))
