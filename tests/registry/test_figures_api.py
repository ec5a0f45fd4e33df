"""The regional figures at the registry (issue 11): three countries' reports combined into
sums the test computes on its own, suppressed so that nothing from 1 to 4 can be read or
derived; the registry's own indicators; who may read; CSV; and nothing personal served."""

from __future__ import annotations

import csv
import io
import json
import random
import re
from collections import Counter
from datetime import timedelta
from itertools import product
from typing import Any

import pytest

from shared.protocol.acting import acting_headers
from shared.protocol.auth import Role
from shared.protocol.figures import (
    CATALOGUE,
    Cell,
    Dimension,
    Indicator,
    Kind,
    Source,
)
from tests.helpers import assert_problem
from tests.registry.conftest import NOW, Registry
from tests.registry.figures_helpers import D, ingest, report
from tests.registry.test_figures_suppression import derivable

MONTHS = ["2026-09", "2026-10", "2026-11"]
DESTINATIONS = ["MX", "HN", "GT", "US"]
SEXES = ["female", "male", "unknown"]
INSTITUTIONS = {"mx-sndif": "MX", "mx-pfpnna": "MX", "hn-senaf": "HN", "gt-sbs": "GT"}
AS_COUNTRY_ADMIN = acting_headers(Role.country_admin, "person-7", "ana.admin")
CASE_REFERENCE = re.compile(r"[A-Z]{2}-[A-Z]+-[0-9]+")
EXACT_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def seeded_cells(institution: str, rng: random.Random) -> list[Cell]:
    """Referrals per pair and month with a sex breakdown that adds up, alerts by category,
    and durations: small counts often, so that suppression has work."""
    origin = INSTITUTIONS[institution]
    cells = []
    for destination, month in product(DESTINATIONS, MONTHS):
        if destination == origin or rng.random() < 0.2:
            continue
        by_sex = [rng.choice([0, 1, 2, 3, 4, 5, 8, 13]) for _ in SEXES]
        pair = {D.origin: origin, D.destination: destination, D.month: month}
        cells.append(Cell(indicator=Indicator.referrals, dims=pair, count=sum(by_sex)))
        cells.extend(Cell(indicator=Indicator.referrals, dims={**pair, D.sex: sex}, count=n)
                     for sex, n in zip(SEXES, by_sex, strict=True) if n)
        measured = rng.choice([2, 6, 11])
        cells.append(Cell(indicator=Indicator.referral_time_to_delivered, dims=pair,
                          count=measured, median_seconds=rng.randint(60, 600),
                          p90_seconds=rng.randint(600, 6000)))
    for month in MONTHS:
        cells.append(Cell(indicator=Indicator.alerts, dims={D.origin: origin, D.month: month},
                          count=rng.choice([0, 2, 6, 9])))
    return cells


@pytest.fixture
async def seeded(registry: Registry) -> dict[str, list[Cell]]:
    rng = random.Random(11)
    cells = {i: seeded_cells(i, rng) for i in INSTITUTIONS}
    outcomes = await ingest(registry, *[report(i, c) for i, c in cells.items()])
    assert outcomes == ["ack"] * len(INSTITUTIONS)
    return cells


def expected(cells: dict[str, list[Cell]], indicator: Indicator, by: Dimension | None
             ) -> Counter[tuple[str, ...]]:
    """The region's sums, computed here: over every institution's cells of the table."""
    fixed = CATALOGUE[indicator].dimensions
    sums: Counter[tuple[str, ...]] = Counter()
    for cell in (c for rows in cells.values() for c in rows if c.indicator is indicator):
        extra = set(cell.dims) - set(fixed)
        if extra != ({by} if by else set()):
            continue
        sums[tuple(cell.dims[d] for d in (*fixed, *([by] if by else [])))] += cell.count
    return sums


def table(registry: Registry, who: str = "auditor", headers: dict[str, str] | None = None,
          **params: Any) -> dict[str, Any]:
    response = registry.client.get("/v1/figures", params=params, headers={
        "Authorization": f"Bearer {registry.tokens[who]}", **(headers or {})})
    assert response.status_code == 200, response.text
    return dict(response.json())


def by_key(body: dict[str, Any], dimensions: tuple[Dimension, ...]
           ) -> dict[tuple[str, ...], dict[str, Any]]:
    return {tuple(c["dims"][d.value] for d in dimensions): c for c in body["cells"]}


def test_three_countries_combine_to_the_sums_and_suppress(
        registry: Registry, seeded: dict[str, list[Cell]]) -> None:
    fixed = CATALOGUE[Indicator.referrals].dimensions
    whole = expected(seeded, Indicator.referrals, None)
    by_sex = expected(seeded, Indicator.referrals, D.sex)
    assert {k[0] for k in whole} == {"MX", "HN", "GT"}
    served = by_key(table(registry, indicator="referrals"), fixed)
    served_sex = by_key(table(registry, indicator="referrals", by="sex"), (*fixed, D.sex))
    assert set(served) == set(whole) and set(served_sex) == set(by_sex)
    for sums, cells in ((whole, served), (by_sex, served_sex)):
        for key, count in sums.items():
            cell = cells[key]
            if 1 <= count <= 4:
                assert (cell["value"], cell["display"]) == (None, "<5"), key
            if cell["value"] is not None:
                assert (cell["value"], cell["display"]) == (count, str(count)), key
    hidden = {k for k, c in served.items() if c["value"] is None}
    hidden_sex = {k for k, c in served_sex.items() if c["value"] is None}
    assert hidden - {k for k, v in whole.items() if 1 <= v <= 4}  # some complementary
    assert derivable(dict(whole), hidden, 3) == []
    assert derivable(dict(by_sex), hidden_sex, 4, dict(whole), hidden) == []
    # MX's cells are the sum of its two institutions' (one pair, one month, checked apart).
    mx = [c for c in seeded["mx-sndif"] + seeded["mx-pfpnna"]
          if c.indicator is Indicator.referrals and len(c.dims) == 3
          and c.dims[D.destination] == "HN" and c.dims[D.month] == "2026-10"]
    assert whole[("MX", "HN", "2026-10")] == sum(c.count for c in mx)


def test_period_and_countries_narrow_the_same_suppressed_cells(
        registry: Registry, seeded: dict[str, list[Cell]]) -> None:
    fixed = CATALOGUE[Indicator.referrals].dimensions
    everything = by_key(table(registry, indicator="referrals"), fixed)
    narrowed = table(registry, indicator="referrals", since="2026-10", until="2026-10",
                     country=["HN", "GT"])
    assert narrowed["cells"]
    for cell in narrowed["cells"]:
        key = tuple(cell["dims"][d.value] for d in fixed)
        assert key[0] in ("HN", "GT") and key[2] == "2026-10"
        assert cell == everything[key]
    assert len(narrowed["cells"]) == len([k for k in everything
                                          if k[0] in ("HN", "GT") and k[2] == "2026-10"])


def test_durations_are_per_pair_and_month_and_withheld_below_five(
        registry: Registry, seeded: dict[str, list[Cell]]) -> None:
    fixed = CATALOGUE[Indicator.referral_time_to_delivered].dimensions
    served = by_key(table(registry, indicator="referral-time-to-delivered"), fixed)
    cells = [c for rows in seeded.values() for c in rows
             if c.indicator is Indicator.referral_time_to_delivered]
    measured_by: Counter[tuple[str, ...]] = Counter(
        tuple(c.dims[d] for d in fixed) for c in cells)
    assert set(served) == set(measured_by)
    for cell in cells:
        key = tuple(cell.dims[d] for d in fixed)
        shown = served[key]
        if measured_by[key] > 1:  # both MX institutions: counts summed, no median
            assert shown["median_seconds"] is None
        elif cell.count < 5:
            assert (shown["value"], shown["median_seconds"]) == (None, None)
        else:
            assert (shown["value"], shown["median_seconds"], shown["p90_seconds"]) == (
                cell.count, cell.median_seconds, cell.p90_seconds)


def test_the_registry_counts_its_own_indicators(registry: Registry) -> None:
    month = NOW.strftime("%Y-%m")
    for n in range(6):
        registry.consent(case_reference=f"MX-TEST-{n:04d}")
    for n in range(9):
        registry.consent("gt-sbs", case_reference=f"GT-TEST-{n:04d}")
    consent = registry.consent("hn-senaf", case_reference="HN-TEST-0001",
                               recipients=["mx-sndif"])
    registry.ok("hn-senaf", "POST", f"/v1/consents/{consent['id']}/withdrawal",
                json={"withdrawn_by": "guardian", "reason": "changed-mind"})
    registry.activate()  # mx-sndif and hn-senaf
    registry.directory.entries = {
        "/v1/focal-points": [{"country": "MX", "topics": ["missing-child-alerts", "referral"]}
                             for _ in range(6)] + [{"country": "GT", "topics": ["referral"]}] * 7,
        "/v1/institutions": [
            {"country": "MX", "updated_at": (NOW - timedelta(days=400)).isoformat()},
            {"country": "MX", "updated_at": (NOW - timedelta(days=10)).isoformat()}]}
    recorded = table(registry, indicator="consents-recorded")["cells"]
    # HN's 1 is withheld, and MX's 6 with it (the smallest other of the month's countries).
    assert [(c["dims"], c["value"]) for c in recorded] == [
        ({"country": "GT", "month": month}, 9), ({"country": "HN", "month": month}, None),
        ({"country": "MX", "month": month}, None)]
    withdrawn = table(registry, indicator="consents-withdrawn")["cells"]
    assert [(c["dims"], c["display"]) for c in withdrawn] == [
        ({"country": "HN", "month": month}, "<5")]
    in_force = table(registry, indicator="agreements-in-force")["cells"]
    assert [c["dims"]["country"] for c in in_force] == ["HN", "MX"]
    topics = table(registry, indicator="focal-points", by="topic")["cells"]
    assert [(c["dims"]["country"], c["dims"]["topic"], c["value"]) for c in topics] == [
        ("GT", "referral", 7), ("MX", "missing-child-alerts", 6), ("MX", "referral", 6)]
    unreviewed = table(registry, indicator="directory-entries-unreviewed")["cells"]
    assert [(c["dims"], c["display"]) for c in unreviewed] == [({"country": "MX"}, "<5")]


def test_who_may_read_the_figures(registry: Registry, seeded: dict[str, list[Cell]]) -> None:
    params = {"indicator": "alerts"}
    for who in ("admin", "auditor"):
        assert table(registry, who, **params)["suppressed"] is True
    acting = table(registry, "mx-sndif", AS_COUNTRY_ADMIN, **params)
    assert acting == table(registry, "auditor", **params)  # the same regional set
    assert_problem(registry.client.get("/v1/figures", params=params), 401, "missing_token")
    assert_problem(registry.call("mx-sndif", "GET", "/v1/figures", params=params), 403,
                   "figures_not_allowed")
    assert_problem(registry.call("hn-senaf", "GET", "/v1/figures.csv", params=params), 403,
                   "figures_not_allowed")
    assert_problem(registry.call("auditor", "GET", "/v1/figures",
                                 params={"indicator": "alerts", "by": "sex"}), 422,
                   "breakdown_not_allowed")
    assert_problem(registry.call("auditor", "GET", "/v1/figures",
                                 params={"indicator": "alerts", "since": "2026-11",
                                         "until": "2026-10"}), 422, "invalid_period")
    for bad in ({"indicator": "names"}, {"indicator": "alerts", "since": "2026-1"},
                {"indicator": "alerts", "country": "mexico"}):
        assert_problem(registry.call("auditor", "GET", "/v1/figures", params=bad), 422,
                       "invalid_request")


def test_csv_is_the_same_table(registry: Registry, seeded: dict[str, list[Cell]]) -> None:
    params = {"indicator": "referrals", "by": "sex"}
    response = registry.call("admin", "GET", "/v1/figures.csv", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="figures-referrals.csv"' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["origin", "destination", "month", "sex", "value"]
    served = table(registry, **params)["cells"]
    assert rows[1:] == [[c["dims"][d] for d in ("origin", "destination", "month", "sex")]
                        + [c["display"]] for c in served]
    assert "<5" in {r[-1] for r in rows[1:]}
    timed = registry.call("admin", "GET", "/v1/figures.csv",
                          params={"indicator": "referral-time-to-delivered"})
    assert next(csv.reader(io.StringIO(timed.text)))[-3:] == [
        "value", "median_seconds", "p90_seconds"]


def test_nothing_personal_is_served(registry: Registry, seeded: dict[str, list[Cell]]) -> None:
    """Every table of every indicator, as JSON and as CSV: no case reference, name, date of
    birth or exact date (only months; `computed_at` is when the gateways computed)."""
    registry.consent(case_reference="MX-TEST-0042")
    served = []
    for indicator, spec in CATALOGUE.items():
        for by in (None, *spec.breakdowns):
            params = {"indicator": indicator.value, **({"by": by.value} if by else {})}
            body = table(registry, **params)
            assert body["suppressed"] is True
            served.append(json.dumps(body["cells"]) + json.dumps(body["query"]))
            served.append(registry.call("auditor", "GET", "/v1/figures.csv",
                                        params=params).text)
            if spec.source is Source.gateway and spec.kind is Kind.counted and by is None:
                assert body["cells"] or indicator is not Indicator.referrals
    text = "\n".join(served)
    assert "MX-TEST-0042" not in text and "2026-10" in text
    assert not CASE_REFERENCE.search(text)
    assert not EXACT_DATE.search(text)


async def test_a_new_report_shows_at_the_next_read(
        registry: Registry, seeded: dict[str, list[Cell]]) -> None:
    key = ("HN", "US", "2026-11")
    before = by_key(table(registry, indicator="referrals"),
                    CATALOGUE[Indicator.referrals].dimensions)
    assert before[key]["value"] != 250
    newer = [c for c in seeded["hn-senaf"] if c.indicator is not Indicator.referrals]
    newer.append(Cell(indicator=Indicator.referrals, count=250, dims={
        D.origin: "HN", D.destination: "US", D.month: "2026-11"}))
    assert await ingest(registry, report("hn-senaf", newer, computed_at=NOW)) == ["ack"]
    after = by_key(table(registry, indicator="referrals"),
                   CATALOGUE[Indicator.referrals].dimensions)
    assert after[key]["value"] == 250
    assert {k for k in after if k[0] == "HN"} == {key}  # the old report's cells are gone
    assert len([k for k in before if k[0] == "HN"]) > 1
