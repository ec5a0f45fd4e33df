"""The region's figures from the institutions' cells, suppressed for publication. Pure: no
database, no clock.

A table has one row per combination of its dimensions' values (an indicator's fixed
dimensions, then its breakdown if any), a `Key`. Counts are summed over institutions.
Durations are not: each pair's are measured by one gateway, so a duration row is shown
as reported (per pair and month), and without median or 90th percentile when more than one
institution measured it (medians cannot be combined).

Suppression, so that no count from 1 to 4 can be read or derived:
- primary: a count from 1 to 4 is withheld (a duration row measured over fewer than 5
  items too);
- complementary: the cells that differ in one dimension only form a group whose sum is a
  total a reader may know or compute (the breakdown's values under their total, the months
  under the period's total, the countries under the region's). A group with exactly one
  withheld member (the total counted as a member when it is itself withheld) would give it
  away by subtraction, so its smallest other non-zero cell is withheld too, again and again
  until no group has exactly one. Zero is published as 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shared.protocol.figures import (
    CATALOGUE,
    SMALLEST_PUBLISHED_COUNT,
    SUPPRESSED,
    Dimension,
    FigureQuery,
    Kind,
    PublishedCell,
)

Key = tuple[str, ...]


@dataclass(frozen=True)
class Combined:
    """One row of the region: the summed count, how many institutions' cells were summed,
    and (for a duration measured by one only) its median and 90th percentile."""

    count: int
    contributors: int = 1
    median_seconds: int | None = None
    p90_seconds: int | None = None


def table_dimensions(query: FigureQuery) -> tuple[Dimension, ...]:
    fixed = CATALOGUE[query.indicator].dimensions
    return (*fixed, query.by) if query.by is not None else fixed


def primary(counts: Mapping[Key, int]) -> set[Key]:
    return {key for key, count in counts.items() if 0 < count < SMALLEST_PUBLISHED_COUNT}


def groups(keys: Iterable[Key], width: int) -> dict[tuple[int, Key], list[Key]]:
    """The cells that differ only at position `position`, by (position, the other values)."""
    found: dict[tuple[int, Key], list[Key]] = {}
    for key in keys:
        for position in range(width):
            found.setdefault((position, key[:position] + key[position + 1:]), []).append(key)
    return found


def suppressed(counts: Mapping[Key, int], width: int,
               withheld_totals: Mapping[int, set[Key]] | None = None) -> set[Key]:
    """The keys withheld, primary and complementary. `withheld_totals[position]`: the totals
    over `position` (keys without it) withheld in the table they are published in (a
    breakdown's totals, withheld in the table without the breakdown)."""
    totals = withheld_totals or {}
    hidden = primary(counts)
    all_groups = groups(counts, width)
    changed = True
    while changed:
        changed = False
        for (position, rest), members in all_groups.items():
            withheld = sum(key in hidden for key in members) + (rest in totals.get(position, ()))
            if withheld != 1:
                continue
            others = [key for key in members if key not in hidden and counts[key] > 0]
            if others:
                hidden.add(min(others, key=lambda k: (counts[k], k)))
                changed = True
    return hidden


def published(query: FigureQuery, rows: Mapping[Key, Combined],
              withheld_totals: set[Key] | None = None) -> list[PublishedCell]:
    """The table the query asks for, suppressed over the whole region and every month held
    (so the same cell is withheld whatever period or countries are asked), then narrowed to
    the query's period and countries, in key order. `withheld_totals`: with a breakdown, the
    keys withheld in the table without it (`withheld_keys` of that table)."""
    dimensions = table_dimensions(query)
    hidden = withheld_keys(query, rows, withheld_totals)
    timed = CATALOGUE[query.indicator].kind is Kind.timed
    cells = []
    for key in sorted(rows):
        if not wanted(query, dimensions, key):
            continue
        row = rows[key]
        dims = dict(zip(dimensions, key, strict=True))
        if key in hidden:
            cells.append(PublishedCell(dims=dims, value=None, display=SUPPRESSED))
            continue
        single = timed and row.contributors == 1
        cells.append(PublishedCell(
            dims=dims, value=row.count, display=str(row.count),
            median_seconds=row.median_seconds if single else None,
            p90_seconds=row.p90_seconds if single else None))
    return cells


def withheld_keys(query: FigureQuery, rows: Mapping[Key, Combined],
                  withheld_totals: set[Key] | None = None) -> set[Key]:
    counts = {key: row.count for key, row in rows.items()}
    if CATALOGUE[query.indicator].kind is Kind.timed:
        return {key for key, count in counts.items() if count < SMALLEST_PUBLISHED_COUNT}
    width = len(table_dimensions(query))
    totals = {width - 1: withheld_totals} if query.by is not None and withheld_totals else None
    return suppressed(counts, width, totals)


def wanted(query: FigureQuery, dimensions: tuple[Dimension, ...], key: Key) -> bool:
    values = dict(zip(dimensions, key, strict=True))
    month = values.get(Dimension.month)
    if month is not None and ((query.since and month < query.since)
                              or (query.until and month > query.until)):
        return False
    side = values.get(dimensions[0])
    return not query.countries or side in query.countries
