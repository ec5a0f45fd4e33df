"""The Figures page of both consoles, rendered by the real templates through a TestClient,
its figures from a fixed, known table (tests/shared/figure_pages_app.py): the charts' numbers
are the sums this test computes from those cells, a suppressed cell is never a number, the
filters reach the source as a FigureQuery, and the CSV link carries the same query."""

from __future__ import annotations

import html
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from fastapi.testclient import TestClient

from shared.protocol.auth import Role
from shared.protocol.figures import (
    CATALOGUE,
    Dimension,
    FigureQuery,
    Indicator,
    Kind,
    PublishedCell,
)
from shared.web.figures import MEASURED_BY_MONTH
from shared.web.kit import SESSION_COOKIE
from tests.shared.figure_pages_app import (
    OWN_REFERRALS,
    REGIONAL_REFERRALS,
    TIME_TO_ACCEPTED,
    figures_app,
    own_source,
    regional_source,
    session_cookie,
)

D = Dimension
COUNTRY_NAMES = {"GT": "Guatemala", "HN": "Honduras", "MX": "Mexico", "US": "United States"}


def client_for(tmp_path: Path, service: str, source: object, username: str = "admin",
               language: str = "en") -> TestClient:
    app = figures_app(tmp_path / "people.db", service, source)  # type: ignore[arg-type]
    client = TestClient(app, headers={"Accept-Language": language})
    client.cookies.set(SESSION_COOKIE, session_cookie(app, username))
    return client


def figure(page: str, figure_id: str) -> str:
    found = re.search(rf'<figure [^>]*id="{figure_id}".*?</figure>', page, re.S)
    assert found, f"no figure {figure_id}"
    return found.group(0)


def table_rows(fragment: str) -> dict[str, list[str]]:
    """A figure's table: each row's heading and its cells, as text."""
    rows = {}
    for heading, cells in re.findall(r'<tr><th scope="row">(.*?)</th>(.*?)</tr>', fragment, re.S):
        rows[html.unescape(heading)] = [html.unescape(c) for c in
                                         re.findall(r"<td[^>]*>(.*?)</td>", cells)]
    return rows


def expected_total(cells: list[PublishedCell]) -> str:
    """This test's own reading of a total: the published values, "≥" when cells are hidden."""
    known = sum(c.value for c in cells if c.value is not None)
    hidden = sum(1 for c in cells if c.value is None)
    if not hidden:
        return str(known)
    if known == 0 and hidden == 1:
        return "<5"
    return f"≥ {known}"


def test_regional_referrals_by_month_and_pair_show_suppressed_cells_as_less_than_five(
        tmp_path: Path) -> None:
    source = regional_source()
    page = client_for(tmp_path, "registry", source, username="auditor").get(
        "/console/figures?indicator=referrals").text
    by_month = table_rows(figure(page, "chart-month"))
    months = sorted({c.dims[D.month] for c in REGIONAL_REFERRALS})
    assert by_month == {m: [expected_total([c for c in REGIONAL_REFERRALS
                                            if c.dims[D.month] == m])] for m in months}
    assert by_month == {"2026-01": ["≥ 27"], "2026-02": ["≥ 30"]}  # the same, by hand

    pairs = table_rows(figure(page, "chart-pairs"))
    origins = sorted({c.dims[D.origin] for c in REGIONAL_REFERRALS})
    destinations = sorted({c.dims[D.destination] for c in REGIONAL_REFERRALS})
    header = re.search(r'id="chart-pairs".*?<thead>(.*?)</thead>', page, re.S)
    assert header and [html.unescape(h) for h in re.findall(r"<th[^>]*>(.*?)</th>",
                                                           header.group(1))][1:] == \
        [COUNTRY_NAMES[d] for d in destinations]
    for origin in origins:
        assert pairs[COUNTRY_NAMES[origin]] == [
            expected_total([c for c in REGIONAL_REFERRALS if c.dims[D.origin] == origin
                            and c.dims[D.destination] == d]) if any(
                c.dims[D.origin] == origin and c.dims[D.destination] == d
                for c in REGIONAL_REFERRALS) else "0" for d in destinations]
    assert pairs["Honduras"][destinations.index("MX")] == "<5"
    assert pairs["Mexico"][destinations.index("HN")] == "≥ 12"
    # Every cell, suppressed or complementary, is "<5" in the full table, never a number.
    every = re.search(r'<table class="figures-table">.*?</table>', page, re.S)
    assert every
    shown = [html.unescape(r) for r in re.findall(r"<tr>(?:<td>[^<]*</td>){3}<td>([^<]*)</td>",
                                                   every.group(0))]
    assert shown == [c.display or "<5" for c in REGIONAL_REFERRALS]
    assert "Regional figures: a count from 1 to 4" in page
    principal, query = source.asked[-1]
    assert principal.role is Role.auditor and query == FigureQuery(indicator=Indicator.referrals)


def test_filters_reach_the_source_and_the_csv_link_asks_the_api_the_same(
        tmp_path: Path) -> None:
    source = regional_source()
    client = client_for(tmp_path, "registry", source, username="auditor")
    page = client.get("/console/figures", params={
        "indicator": "referrals", "by": "sex", "since": "2026-01", "until": "2026-02",
        "country": "MX"}).text
    assert source.asked[-1][1] == FigureQuery(indicator=Indicator.referrals, by=D.sex,
                                              since="2026-01", until="2026-02",
                                              countries=("MX",))
    assert table_rows(figure(page, "chart-breakdown")) == {
        "female": ["9"], "male": ["<5"], "unknown": ["<5"]}
    link = re.search(r'<a href="([^"]+)" download>', page)
    assert link
    url = urlsplit(html.unescape(link.group(1)))
    assert url.path == "/v1/figures.csv"
    assert parse_qsl(url.query) == [("indicator", "referrals"), ("by", "sex"),
                                    ("since", "2026-01"), ("until", "2026-02"),
                                    ("country", "MX")]
    assert 'value="2026-01"' in page and '<option value="MX" selected>' in page


@pytest.mark.parametrize("params", [
    {"indicator": "no-such-indicator"},
    {"indicator": "referrals", "since": "January"},
    {"indicator": "referrals", "country": "Narnia"},
])
def test_filters_that_are_not_a_query_fall_back_to_the_default_without_echoing(
        tmp_path: Path, params: dict[str, str]) -> None:
    source = regional_source()
    response = client_for(tmp_path, "registry", source, username="auditor").get(
        "/console/figures", params=params)
    assert response.status_code == 200
    assert "These filters cannot be combined" in response.text
    assert source.asked[-1][1] == FigureQuery(indicator=Indicator.referrals)
    main = response.text.split("<main")[1].split("</main>")[0]
    for value in params.values():
        if value not in ("referrals", "alerts", "sex"):
            assert value not in main


def test_a_breakdown_the_indicator_does_not_allow_is_dropped_with_a_notice(
        tmp_path: Path) -> None:
    source = regional_source()
    response = client_for(tmp_path, "registry", source, username="auditor").get(
        "/console/figures", params={"indicator": "alerts", "by": "sex", "since": "2026-01"})
    assert response.status_code == 200
    assert "This indicator cannot be broken down that way" in response.text
    assert "These filters cannot be combined" not in response.text
    assert source.asked[-1][1] == FigureQuery(indicator=Indicator.alerts, since="2026-01")
    assert '<option value="category">Category</option>' in response.text


def test_durations_show_the_median_with_the_90th_percentile_and_hide_small_ones(
        tmp_path: Path) -> None:
    page = client_for(tmp_path, "registry", regional_source(), username="auditor").get(
        "/console/figures?indicator=referral-time-to-accepted").text
    rows = table_rows(figure(page, "chart-durations"))
    assert rows == {
        "Mexico → Guatemala · 2026-01": ["3 h", "10 h", "6"],
        "Mexico → Honduras · 2026-01": ["2 d", "5 d", "20"],
        "Mexico → United States · 2026-01": ["<5", "<5", "<5"],
    }
    assert len(rows) == len(TIME_TO_ACCEPTED)
    assert figure(page, "chart-durations").count('class="p90"') == 2
    month = figure(page, "chart-month")
    assert "Referrals accepted, by month sent" in month
    assert table_rows(month) == {"2026-01": ["≥ 26"]}


def test_a_gateway_shows_its_own_country_in_full_detail_in_spanish(tmp_path: Path) -> None:
    page = client_for(tmp_path, "gateway", own_source(), language="es").get(
        "/console/figures").text
    assert "<title>Cifras ·" in page and "<h1>Cifras de México</h1>" in page
    assert "en todo detalle" in page and "&lt;5" not in page
    by_month = table_rows(figure(page, "chart-month"))
    assert by_month == {m: [str(sum(c.value or 0 for c in OWN_REFERRALS
                                    if c.dims[D.month] == m))]
                        for m in ("2026-01", "2026-02")}
    destinations = sorted({c.dims[D.destination] for c in OWN_REFERRALS})
    assert table_rows(figure(page, "chart-pairs"))["México"] == [
        str(sum(c.value or 0 for c in OWN_REFERRALS if c.dims[D.destination] == d))
        for d in destinations]
    assert 'href="/console/figures"' in page.split("<nav")[1].split("</nav>")[0]


def test_without_a_source_the_page_says_figures_are_not_available_yet(
        tmp_path: Path) -> None:
    response = client_for(tmp_path, "gateway", None).get("/console/figures")
    assert response.status_code == 503
    assert "Figures are not available yet on this service." in response.text
    assert "<figure" not in response.text


def test_a_refusal_of_the_source_is_shown_as_a_message(tmp_path: Path) -> None:
    response = client_for(tmp_path, "gateway", own_source(), username="clerk").get(
        "/console/figures")
    assert response.status_code == 403
    assert "Your role does not allow you to see these figures." in response.text
    assert "<figure" not in response.text
    # Nor is the page in a caseworker's navigation.
    navigation = response.text.split("<nav")[1].split("</nav>")[0]
    assert 'href="/console/figures"' not in navigation


def test_signed_out_visitors_are_sent_to_sign_in(tmp_path: Path) -> None:
    app = figures_app(tmp_path / "people.db", "registry", regional_source())
    response = TestClient(app).get("/console/figures", follow_redirects=False)
    assert response.status_code == 303 and "/console/sign-in" in response.headers["location"]


def test_every_duration_indicator_by_month_says_what_was_measured() -> None:
    timed = {i for i, spec in CATALOGUE.items()
             if spec.kind is Kind.timed and Dimension.month in spec.dimensions}
    assert timed and set(MEASURED_BY_MONTH) == timed
