"""The indicators the registry counts itself (Source.registry): consents recorded and
withdrawn per country and month, from its consents; agreements in force per party country;
focal points per country and topic, and institutions not updated for a year per country,
from the directory (read over HTTP, as the secretariat's console reads it)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import func
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from services.registry.figures.combination import Combined, Key
from services.registry.models import Agreement, Consent
from services.registry.service import current_versions, effective_status
from shared.protocol.figures import Dimension, FigureQuery, Indicator
from shared.protocol.policy import AgreementStatus

UNREVIEWED_AFTER = timedelta(days=365)


class DirectoryEntries(Protocol):
    def country_of(self, institution_id: str) -> str: ...

    def every(self, path: str, **params: str) -> list[dict[str, Any]]: ...


def month_of(session: Session, moment: Any) -> ColumnElement[str]:
    """YYYY-MM (UTC) of a timestamp column, in the database's own dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", moment), "YYYY-MM")
    return func.strftime("%Y-%m", moment)


def consents(session: Session, directory: DirectoryEntries, moment: Any
             ) -> dict[Key, Combined]:
    """Per (country of the holder, month of `moment`)."""
    month = month_of(session, moment)
    query = (select(Consent.holder_id, month, func.count())
             .where(col(moment).is_not(None)).group_by(Consent.holder_id, month))
    counts: Counter[Key] = Counter()
    for holder, month_value, count in session.execute(query):
        country = directory.country_of(holder)
        if country:
            counts[(country, str(month_value))] += int(count)
    return {key: Combined(count) for key, count in counts.items()}


def agreements_in_force(session: Session, directory: DirectoryEntries, now: datetime
                        ) -> dict[Key, Combined]:
    """Per party country: the agreements whose version in force is active now (a party is
    a country or one of its institutions; a country counts an agreement once)."""
    counts: Counter[Key] = Counter()
    for agreement in current_versions(list(session.exec(select(Agreement)))):
        if effective_status(agreement, now) != AgreementStatus.active.value \
                or now < agreement.valid_from:
            continue
        countries = {party if len(party) == 2 and party.isupper()
                     else directory.country_of(party) for party in agreement.parties}
        counts.update((country,) for country in countries if country)
    return {key: Combined(count) for key, count in counts.items()}


def focal_points(directory: DirectoryEntries, by_topic: bool) -> dict[Key, Combined]:
    counts: Counter[Key] = Counter()
    for point in directory.every("/v1/focal-points"):
        if by_topic:
            counts.update((str(point["country"]), str(topic)) for topic in point["topics"])
        else:
            counts[(str(point["country"]),)] += 1
    return {key: Combined(count) for key, count in counts.items()}


def unreviewed_institutions(directory: DirectoryEntries, now: datetime
                            ) -> dict[Key, Combined]:
    counts: Counter[Key] = Counter(
        (str(i["country"]),) for i in directory.every("/v1/institutions")
        if datetime.fromisoformat(str(i["updated_at"])) < now - UNREVIEWED_AFTER)
    return {key: Combined(count) for key, count in counts.items()}


def own_rows(session: Session, directory: DirectoryEntries, query: FigureQuery,
             now: datetime) -> dict[Key, Combined]:
    """The rows of a registry indicator's table (its fixed dimensions, then `by`)."""
    counters: dict[Indicator, Callable[[], dict[Key, Combined]]] = {
        Indicator.consents_recorded: lambda: consents(session, directory, Consent.recorded_at),
        Indicator.consents_withdrawn: lambda: consents(session, directory,
                                                       Consent.withdrawn_at),
        Indicator.agreements_in_force: lambda: agreements_in_force(session, directory, now),
        Indicator.focal_points: lambda: focal_points(directory, query.by is Dimension.topic),
        Indicator.directory_entries_unreviewed: lambda: unreviewed_institutions(directory,
                                                                                now),
    }
    return counters[query.indicator]()
