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
  until no group has exactly one. Zero is published as 0. When such a group's withheld
  cell has no other non-zero member, under a total of the table without breakdown, that
  total is withheld instead; so every table of an indicator is decided together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

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
Cell = tuple[Dimension | None, Key]  # a key in one table (None: the one without breakdown)


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


@dataclass
class Tables:
    """An indicator's counts: the table at its fixed dimensions (`whole`), and one per
    breakdown, whose cells under one key of `whole` sum to it."""

    whole: dict[Key, int]
    by: dict[Dimension, dict[Key, int]] = field(default_factory=dict)


@dataclass
class Withheld:
    whole: set[Key]
    by: dict[Dimension, set[Key]]

    def of(self, by: Dimension | None) -> set[Key]:
        return self.whole if by is None else self.by.get(by, set())


def suppressed(tables: Tables, width: int) -> Withheld:
    """What is withheld in every table of one counted indicator (`width`: its number of
    fixed dimensions), primary and complementary, to a fixed point across the tables: a
    breakdown's cells under a total of `whole` form a group with that total as a member
    (withheld there if a group whose only withheld cell has no other non-zero member would
    otherwise give it away). A worklist: only the groups of a cell just withheld are looked
    at again."""
    counts: dict[Cell, int] = {(None, k): n for k, n in tables.whole.items()}
    for dimension, table in tables.by.items():
        counts.update({(dimension, k): n for k, n in table.items()})
    found: list[tuple[list[Cell], Cell | None]] = [
        ([(None, k) for k in keys], None) for keys in groups(tables.whole, width).values()]
    for dimension, table in tables.by.items():
        for (position, rest), keys in groups(table, width + 1).items():
            under: Cell | None = (None, rest) if position == width and rest in tables.whole \
                else None
            found.append(([(dimension, k) for k in keys], under))
    groups_of: dict[Cell, list[int]] = {}
    for index, (members, total) in enumerate(found):
        for cell in members if total is None else [*members, total]:
            groups_of.setdefault(cell, []).append(index)
    hidden = {cell for cell, n in counts.items() if 0 < n < SMALLEST_PUBLISHED_COUNT}
    withheld = [sum(c in hidden for c in members) + (total in hidden)
                for members, total in found]
    queue = list(range(len(found)))
    while queue:
        index = queue.pop()
        if withheld[index] != 1:
            continue
        members, total = found[index]
        others = [c for c in members if c not in hidden and counts[c] > 0]
        if others:
            chosen: Cell = min(others, key=lambda c: (counts[c], c[1]))
        elif total is not None and total not in hidden and counts[total] > 0:
            chosen = total
        else:
            continue
        hidden.add(chosen)
        for affected in groups_of[chosen]:
            withheld[affected] += 1
            queue.append(affected)
    result = Withheld(set(), {d: set() for d in tables.by})
    for table_of, key in hidden:
        (result.whole if table_of is None else result.by[table_of]).add(key)
    return result


def withheld_durations(rows: Mapping[Key, Combined]) -> set[Key]:
    """A duration measured over fewer than 5 items is withheld; durations are not summed,
    so nothing else can give one away."""
    return {key for key, row in rows.items() if row.count < SMALLEST_PUBLISHED_COUNT}


def published(query: FigureQuery, rows: Mapping[Key, Combined], hidden: set[Key]
              ) -> list[PublishedCell]:
    """The table the query asks for, with the cells `hidden` withheld (decided over the
    whole region and every month held, so the same cell is withheld whatever period or
    countries are asked), narrowed to the query's period and countries, in key order."""
    dimensions = table_dimensions(query)
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


def wanted(query: FigureQuery, dimensions: tuple[Dimension, ...], key: Key) -> bool:
    values = dict(zip(dimensions, key, strict=True))
    month = values.get(Dimension.month)
    if month is not None and ((query.since and month < query.since)
                              or (query.until and month > query.until)):
        return False
    side = values.get(dimensions[0])
    return not query.countries or side in query.countries
