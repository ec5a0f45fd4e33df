"""A gateway's own cells of the catalogue (docs/figures.md, "How a gateway counts"): one SQL
GROUP BY per indicator and breakdown over the facts' columns, exact medians and 90th
percentiles by nearest rank, for some of the institutions it hosts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, case, func, select, text
from sqlmodel import Session, col

from services.exchange.alerts.models import Alert, AlertTarget
from services.exchange.figures.facts import TOTAL, month_of
from services.exchange.figures.models import QuarantineTally, ReferralFacts, ReferralTally
from shared.protocol.figures import Cell, Dimension, Indicator

D, Ind = Dimension, Indicator
F = ReferralFacts
PAIR_MONTH = (D.origin, D.destination, D.month)
TIMED_REFERRALS = {
    Ind.referral_time_to_delivered: F.seconds_to_delivered,
    Ind.referral_time_to_accepted: F.seconds_to_accepted,
    Ind.referral_time_to_closed: F.seconds_to_closed,
}
ANSWERS = ("accepted", "rejected")


def nearest_rank(sorted_values: Sequence[int], percent: int) -> int:
    """The smallest value with at least `percent` % of the values at or below it."""
    return sorted_values[rank(len(sorted_values), percent) - 1]


def rank(n: int, percent: int) -> int:
    return (n * percent + 99) // 100  # ceil(n * percent / 100), in integers


REFERRAL_INDICATORS = frozenset({Ind.referrals, Ind.referral_answers, *TIMED_REFERRALS})
QUARANTINE_INDICATORS = frozenset({Ind.quarantined})


def cells_of(session: Session, institution_ids: list[str], country: str,
             indicator: Indicator | None = None) -> list[Cell]:
    """Every cell of the gateway-counted indicators (or of one) for these institutions of
    `country`."""
    cells: list[Cell] = []
    if indicator is None or indicator in REFERRAL_INDICATORS:
        cells += referral_cells(session, institution_ids)
    if indicator is None or indicator in QUARANTINE_INDICATORS:
        cells += quarantine_cells(session, institution_ids, country)
    if indicator is None or indicator not in REFERRAL_INDICATORS | QUARANTINE_INDICATORS:
        cells += alert_cells(session, institution_ids, country)
    return [c for c in cells if indicator is None or c.indicator is indicator]


# Referrals -----------------------------------------------------------------------------


def referral_cells(session: Session, institution_ids: list[str]) -> list[Cell]:
    """The counts from the tally (a row per pair, month and breakdown value, kept at write
    time), the durations from the facts."""
    T = ReferralTally
    total = func.sum(T.count)
    rows = session.execute(
        select(col(T.origin), col(T.destination), col(T.month), col(T.dimension),
               col(T.value), total)
        .where(col(T.institution_id).in_(institution_ids))
        .group_by(col(T.origin), col(T.destination), col(T.month), col(T.dimension),
                  col(T.value))
        .having(total > 0)).all()
    cells = []
    for origin, destination, month, dimension, value, count in rows:
        pair = {D.origin: origin, D.destination: destination, D.month: month}
        if dimension == TOTAL:
            cells.append(Cell(indicator=Ind.referrals, dims=pair, count=count))
        elif dimension == D.reason.value:
            cells.append(Cell(indicator=Ind.referral_answers, count=count,
                              dims={**pair, D.outcome: "rejected", D.reason: value}))
        else:
            cells.append(Cell(indicator=Ind.referrals, dims={**pair, D(dimension): value},
                              count=count))
            if dimension == D.outcome.value and value in ANSWERS:
                cells.append(Cell(indicator=Ind.referral_answers,
                                  dims={**pair, D.outcome: value}, count=count))
    for indicator, seconds in TIMED_REFERRALS.items():
        cells += _timed_referrals(session, institution_ids, indicator, seconds)
    return cells


def _timed_referrals(session: Session, institution_ids: list[str], indicator: Indicator,
                     seconds: Any) -> list[Cell]:
    """Median and 90th percentile per pair and month, by nearest rank: how many were
    measured, then the values at the two ranks, read in order along the index on (pair,
    month, seconds)."""
    measured = (col(F.institution_id).in_(institution_ids), col(seconds).is_not(None))
    group = (col(F.origin), col(F.destination), col(F.month))
    counts = session.execute(select(*group, func.count()).where(*measured)
                             .group_by(*group)).all()
    # One plain statement, compiled once, run per pair and month.
    column = seconds.key  # one of TIMED_REFERRALS' columns, never input
    value_at = ("(SELECT {c} FROM referral_facts WHERE origin = :origin AND destination = "
                ":destination AND month = :month AND {c} IS NOT NULL AND institution_id IN "
                ":institutions ORDER BY {c} LIMIT 1 OFFSET :{rank})")
    ranked = text(f"SELECT {value_at.format(c=column, rank='median')}, "
                  f"{value_at.format(c=column, rank='p90')}").bindparams(
        bindparam("institutions", expanding=True))
    connection = session.connection()
    cells = []
    for origin, destination, month, n in counts:
        median, p90 = connection.execute(ranked, {
            "origin": origin, "destination": destination, "month": month,
            "institutions": institution_ids, "median": rank(n, 50) - 1,
            "p90": rank(n, 90) - 1}).one()
        cells.append(Cell(indicator=indicator,
                          dims={D.origin: origin, D.destination: destination, D.month: month},
                          count=n, median_seconds=int(median), p90_seconds=int(p90)))
    return cells


# Alerts (few rows: grouped here from their columns) ------------------------------------


def _seconds(since: datetime, moment: datetime | None) -> int | None:
    return None if moment is None else max(0, int((moment - since).total_seconds()))


def _timed(indicator: Indicator, values: dict[tuple[tuple[Dimension, str], ...], list[int]]
           ) -> list[Cell]:
    cells = []
    for dims, measured in values.items():
        ordered = sorted(measured)
        cells.append(Cell(indicator=indicator, dims=dict(dims), count=len(ordered),
                          median_seconds=nearest_rank(ordered, 50),
                          p90_seconds=nearest_rank(ordered, 90)))
    return cells


def _counted(indicator: Indicator, keys: Iterable[tuple[tuple[Dimension, str], ...]]
             ) -> list[Cell]:
    counts: dict[tuple[tuple[Dimension, str], ...], int] = defaultdict(int)
    for key in keys:
        counts[key] += 1
    return [Cell(indicator=indicator, dims=dict(key), count=n) for key, n in counts.items()]


def alert_cells(session: Session, institution_ids: list[str], origin: str) -> list[Cell]:
    issued = session.execute(
        select(col(Alert.id), col(Alert.created_at), col(Alert.category),
               col(Alert.located_at))
        .where(col(Alert.direction) == "outbound", col(Alert.issuer_id).in_(institution_ids))).all()
    months = {row.id: month_of(row.created_at) for row in issued}
    cells = _counted(Ind.alerts, (((D.origin, origin), (D.month, months[r.id])) for r in issued))
    cells += _counted(Ind.alerts, (((D.origin, origin), (D.month, months[r.id]),
                                  (D.category, r.category)) for r in issued))
    located: dict[tuple[tuple[Dimension, str], ...], list[int]] = defaultdict(list)
    for row in issued:
        if row.located_at is not None:
            located[((D.origin, origin), (D.month, months[row.id]))].append(
                _seconds(row.created_at, row.located_at) or 0)
    cells += _timed(Ind.alert_time_to_located, located)
    # Per target country (its desks together): the first receipt and acknowledgement there,
    # and how many desks had the alert without confirming the notice that closed it.
    T = AlertTarget
    unconfirmed = func.sum(case((col(T.received_at).is_not(None)
                                 & col(T.closed_received_at).is_(None), 1), else_=0))
    targets = session.execute(
        select(col(Alert.id), col(Alert.created_at), col(Alert.located_at), col(T.country),
               func.min(T.received_at), func.min(T.acknowledged_at), unconfirmed)
        .join(T, col(T.alert_id) == col(Alert.id))
        .where(col(Alert.direction) == "outbound", col(Alert.issuer_id).in_(institution_ids))
        .group_by(col(Alert.id), col(Alert.created_at), col(Alert.located_at),
                  col(T.country))).all()
    received: dict[tuple[tuple[Dimension, str], ...], list[int]] = defaultdict(list)
    acknowledged: dict[tuple[tuple[Dimension, str], ...], list[int]] = defaultdict(list)
    still_active = []
    for alert_id, issued_at, located_at, target, received_at, acknowledged_at, open_desks \
            in targets:
        key = ((D.origin, origin), (D.target, target), (D.month, months[alert_id]))
        for values, moment in ((received, received_at), (acknowledged, acknowledged_at)):
            if moment is not None:
                values[key].append(_seconds(issued_at, _utc(moment)) or 0)
        if located_at is not None and open_desks:
            still_active.append(key)
    cells += _timed(Ind.alert_time_to_received, received)
    cells += _timed(Ind.alert_time_to_acknowledged, acknowledged)
    cells += _counted(Ind.alerts_active_after_located, still_active)
    return cells


def _utc(moment: datetime) -> datetime:
    """An aggregate's moment: SQLite returns it without the column's type (so no zone)."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


# Quarantine ----------------------------------------------------------------------------


def quarantine_cells(session: Session, institution_ids: list[str], country: str) -> list[Cell]:
    T = QuarantineTally
    rows = session.execute(
        select(col(T.month), col(T.reason), func.sum(T.count))
        .where(col(T.institution_id).in_(institution_ids)).group_by(T.month, T.reason)).all()
    totals: dict[str, int] = defaultdict(int)
    cells = []
    for month, reason, count in rows:
        totals[month] += int(count)
        cells.append(Cell(indicator=Ind.quarantined,
                          dims={D.country: country, D.month: month, D.reason: reason},
                          count=int(count)))
    cells += [Cell(indicator=Ind.quarantined, dims={D.country: country, D.month: month},
                   count=n) for month, n in totals.items()]
    return cells
