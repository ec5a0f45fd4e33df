"""Suppression of the regional figures (services/registry/figures/combination.py): no count
from 1 to 4 is shown, and none can be derived by subtracting published cells from a total
a reader knows or can compute."""

from __future__ import annotations

import random
from itertools import product

import pytest

from services.registry.figures.combination import (
    Combined,
    Tables,
    published,
    suppressed,
    withheld_durations,
)
from shared.protocol.figures import Dimension, FigureQuery, Indicator

Key = tuple[str, ...]


def total_groups(keys: list[Key], width: int) -> list[tuple[int, Key, list[Key]]]:
    """Every set of cells summing to one total: those equal except at one position
    (enumerated here on their own, not with the module's helper)."""
    found = []
    for position in range(width):
        rests = sorted({k[:position] + k[position + 1:] for k in keys})
        for rest in rests:
            members = [k for k in keys if k[:position] + k[position + 1:] == rest]
            found.append((position, rest, members))
    return found


def derivable(counts: dict[Key, int], hidden: set[Key], width: int,
              served: dict[Key, int] | None = None, served_hidden: set[Key] | None = None
              ) -> list[Key]:
    """The withheld cells a reader can compute from one group and its total: the total
    minus the group's published cells when the cell is the group's only withheld one and
    another cell is not zero (the month and country totals are served by no table: were
    one known, a group of one cell and zeros would be that cell itself); under a breakdown,
    the totals are `served` (the table without it), so also a group of one, or a withheld
    total whose cells are all published."""
    found = []
    for position, rest, members in total_groups(list(counts), width):
        withheld = [k for k in members if k in hidden]
        breakdown = served is not None and position == width - 1
        total_hidden = breakdown and rest in (served_hidden or set())
        if breakdown and rest in served and not total_hidden and len(withheld) == 1:
            assert served[rest] - sum(counts[k] for k in members if k not in hidden) == \
                counts[withheld[0]]
            found.append(withheld[0])
        elif not breakdown and len(withheld) == 1 and any(
                counts[k] > 0 for k in members if k not in hidden):
            found.append(withheld[0])
        if total_hidden and not withheld:
            found.append(rest)
    return found


def hide(counts: dict[Key, int], width: int) -> set[Key]:
    return suppressed(Tables(counts), width).whole


def test_primary_suppression_withholds_one_to_four_and_publishes_zero() -> None:
    counts = {("MX", "a"): 0, ("MX", "b"): 3, ("MX", "c"): 5, ("MX", "d"): 4,
              ("MX", "e"): 12}
    hidden = hide(counts, 2)
    assert {("MX", "b"), ("MX", "d")} <= hidden
    assert ("MX", "a") not in hidden and ("MX", "c") not in hidden


def test_a_lone_withheld_cell_takes_the_smallest_other_non_zero_with_it() -> None:
    counts = {("MX", "a"): 0, ("MX", "b"): 2, ("MX", "c"): 9, ("MX", "d"): 7}
    assert hide(counts, 2) == {("MX", "b"), ("MX", "d")}


def test_complementary_suppression_reaches_a_fixed_point_across_groups() -> None:
    # Withholding (MX, b) for the MX row leaves column b with one withheld, and so on.
    counts = {("MX", "a"): 3, ("MX", "b"): 6, ("HN", "a"): 8, ("HN", "b"): 20,
              ("GT", "a"): 30, ("GT", "b"): 40}
    hidden = hide(counts, 2)
    assert ("MX", "a") in hidden and ("MX", "b") in hidden
    assert ("HN", "a") in hidden and ("HN", "b") in hidden  # columns a and b, then row HN
    assert derivable(counts, hidden, 2) == []


def test_a_withheld_total_withholds_one_of_its_breakdown_cells() -> None:
    whole = {("MX", "2026-01"): 13, ("MX", "2026-02"): 2}  # January withheld for February
    by_sex = {("MX", "2026-01", "f"): 6, ("MX", "2026-01", "m"): 7, ("MX", "2026-02", "f"): 2}
    hidden = suppressed(Tables(whole, {Dimension.sex: by_sex}), 2)
    assert hidden.whole == {("MX", "2026-01"), ("MX", "2026-02")}
    assert ("MX", "2026-01", "f") in hidden.by[Dimension.sex]  # else 6 + 7 gives January
    assert derivable(by_sex, hidden.by[Dimension.sex], 3, whole, hidden.whole) == []


def test_a_lone_breakdown_cell_withheld_withholds_its_total() -> None:
    # February's female cell is withheld for the month series; it is February's only cell.
    whole = {("MX", "2026-01"): 3, ("MX", "2026-02"): 7}
    by_sex = {("MX", "2026-01", "f"): 3, ("MX", "2026-02", "f"): 7}
    hidden = suppressed(Tables(whole, {Dimension.sex: by_sex}), 2)
    assert ("MX", "2026-02", "f") in hidden.by[Dimension.sex]
    assert ("MX", "2026-02") in hidden.whole
    assert derivable(by_sex, hidden.by[Dimension.sex], 3, whole, hidden.whole) == []


@pytest.mark.parametrize("seed", range(40))
def test_no_withheld_cell_can_be_derived_in_random_tables(seed: int) -> None:
    rng = random.Random(seed)
    origins, destinations, months = ["MX", "HN", "GT", "SV"], ["US", "MX", "CR"], \
        ["2026-01", "2026-02", "2026-03"]
    counts = {key: rng.choice([0, 0, 1, 2, 3, 4, 5, 6, 9, 15, 40])
              for key in product(origins, destinations, months) if rng.random() < 0.85}
    hidden = hide(counts, 3)
    assert {k for k, v in counts.items() if 1 <= v <= 4} <= hidden
    assert all(counts[k] > 0 for k in hidden)
    assert derivable(counts, hidden, 3) == []


@pytest.mark.parametrize("seed", range(20))
def test_breakdown_tables_hide_nothing_their_totals_give_away(seed: int) -> None:
    rng = random.Random(1000 + seed)
    keys = list(product(["MX", "HN", "GT"], ["US", "MX"], ["2026-01", "2026-02"]))
    by: dict[Dimension, dict[Key, int]] = {Dimension.age_band: {}, Dimension.sex: {}}
    whole: dict[Key, int] = {}
    for key in keys:
        bands = [rng.choice([0, 0, 1, 2, 3, 5, 7, 12, 30]) for _ in range(4)]
        whole[key] = sum(bands)
        by[Dimension.age_band].update({(*key, band): n for band, n in zip(
            ["0-5", "6-11", "12-14", "15-17"], bands, strict=True) if n or rng.random() < .5})
        female = rng.randint(0, whole[key])
        by[Dimension.sex].update({(*key, "f"): female, (*key, "m"): whole[key] - female})
    hidden = suppressed(Tables(whole, by), 3)
    assert derivable(whole, hidden.whole, 3) == []
    for dimension, counts in by.items():
        assert {k for k, v in counts.items() if 1 <= v <= 4} <= hidden.by[dimension]
        assert derivable(counts, hidden.by[dimension], 4, whole, hidden.whole) == []


def test_published_cells_show_withheld_ones_as_fewer_than_five_and_narrow_late() -> None:
    rows = {("MX", "US", "2026-01"): Combined(3), ("MX", "US", "2026-02"): Combined(8),
            ("HN", "US", "2026-01"): Combined(0), ("HN", "US", "2026-02"): Combined(11)}
    hidden = hide({k: r.count for k, r in rows.items()}, 3)
    everything = published(FigureQuery(indicator=Indicator.referrals), rows, hidden)
    shown = {tuple(c.dims.values()): (c.value, c.display) for c in everything}
    assert shown[("MX", "US", "2026-01")] == (None, "<5")
    assert shown[("HN", "US", "2026-01")] == (0, "0")
    # Narrowed to February, MX's February stays withheld: the whole period decides.
    february = published(FigureQuery(indicator=Indicator.referrals, since="2026-02",
                                     until="2026-02", countries=("MX",)), rows, hidden)
    assert [(c.dims[Dimension.month], c.value) for c in february] == [("2026-02", None)]


def test_durations_are_withheld_below_five_items_and_never_combined() -> None:
    rows = {("MX", "US", "2026-01"): Combined(4, 1, 3600, 7200),
            ("MX", "HN", "2026-01"): Combined(9, 1, 600, 900),
            ("HN", "US", "2026-01"): Combined(12, 2, 60, 90)}
    cells = {tuple(c.dims.values()): c for c in published(
        FigureQuery(indicator=Indicator.referral_time_to_delivered), rows,
        withheld_durations(rows))}
    assert cells[("MX", "US", "2026-01")].value is None
    assert cells[("MX", "US", "2026-01")].median_seconds is None
    assert (cells[("MX", "HN", "2026-01")].median_seconds,
            cells[("MX", "HN", "2026-01")].p90_seconds) == (600, 900)
    assert cells[("HN", "US", "2026-01")].value == 12
    assert cells[("HN", "US", "2026-01")].median_seconds is None
