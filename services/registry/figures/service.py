"""Who may read the regional figures, and the tables they read: the region's suppressed set
of one indicator, combined from the reports in force (or counted by the registry)."""

from __future__ import annotations

import threading

from sqlmodel import Session

from services.registry.figures.combination import (
    Combined,
    Key,
    Tables,
    Withheld,
    published,
    suppressed,
    withheld_durations,
)
from services.registry.figures.own_indicators import DirectoryEntries, own_rows
from services.registry.figures.store import StatisticsRepository
from shared.kit.db import utcnow
from shared.kit.errors import Forbidden, Unprocessable
from shared.protocol.auth import Principal
from shared.protocol.figures import (
    CATALOGUE,
    Dimension,
    FigureQuery,
    FigureTable,
    Indicator,
    Kind,
    Source,
    Spec,
)

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
    spec = CATALOGUE[query.indicator]
    repo = StatisticsRepository(session)
    gateways = spec.source is Source.gateway
    now = utcnow()
    if gateways:
        key = (str(session.get_bind().engine.url), query.indicator)
        region = REGIONS.get(key, repo.reports_in_force())
        if region is None:
            region = decided(spec, gateway_tables(repo, query.indicator))
            REGIONS.put(key, repo.reports_in_force(), region)
    else:
        region = decided(spec, {by: own_rows(session, directory,
                                             query.model_copy(update={"by": by}), now)
                                for by in (None, *spec.breakdowns)})
    rows, withheld = region
    return FigureTable(query=query, suppressed=True,
                       computed_at=repo.oldest_report() if gateways else now,
                       cells=published(query, rows.get(query.by, {}), withheld.of(query.by)))


Region = tuple[dict[Dimension | None, dict[Key, Combined]], Withheld]


def decided(spec: Spec, tables: dict[Dimension | None, dict[Key, Combined]]) -> Region:
    """An indicator's tables and what is withheld in each."""
    if spec.kind is Kind.timed:
        return tables, Withheld(withheld_durations(tables.get(None, {})), {})
    counts = Tables({k: r.count for k, r in tables.get(None, {}).items()},
                    {d: {k: r.count for k, r in tables.get(d, {}).items()}
                     for d in spec.breakdowns})
    return tables, suppressed(counts, len(spec.dimensions))


class RegionCache:
    """The region's tables of each indicator as last decided, with the reports in force
    they were made of: decided again as soon as any report in force changed (a new report
    of an institution has a new id), so a change shows at the next read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._regions: dict[tuple[str, Indicator], tuple[tuple[tuple[str, str], ...], Region]] = {}

    def get(self, key: tuple[str, Indicator], reports: tuple[tuple[str, str], ...]
            ) -> Region | None:
        with self._lock:
            hit = self._regions.get(key)
        return hit[1] if hit is not None and hit[0] == reports else None

    def clear(self) -> None:
        with self._lock:
            self._regions.clear()

    def put(self, key: tuple[str, Indicator], reports: tuple[tuple[str, str], ...],
            region: Region) -> None:
        with self._lock:
            self._regions[key] = (reports, region)


REGIONS = RegionCache()


def gateway_tables(repo: StatisticsRepository, indicator: Indicator
                   ) -> dict[Dimension | None, dict[Key, Combined]]:
    tables: dict[Dimension | None, dict[Key, Combined]] = {}
    dimensions: dict[str, Dimension | None] = {"": None, **{d.value: d for d in Dimension}}
    for breakdown, key, count, contributors, median, p90 in repo.grouped(indicator):
        table = tables.setdefault(dimensions[breakdown], {})
        table[key] = Combined(count, contributors, median, p90)
    return tables
