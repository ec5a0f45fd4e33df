"""The chart kit: totals that never read a suppressed cell as a number, bars and marks on one
scale, and the macros' SVG with its caption, title and table."""

from __future__ import annotations

import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader

import shared.web
from shared.web import charts
from shared.web.charts import BAR_AREA, Duration, Total


def test_a_total_with_suppressed_cells_is_at_least_its_published_part() -> None:
    assert charts.total([3, 4, 5]).display == "12"
    assert charts.total([None]).display == "<5"
    assert charts.total([None, 7]).display == "≥ 7"
    assert charts.total([None, None]).display == "<5 \u00d72"
    assert charts.total([]).display == "0"
    assert Total(10, 0) + Total.of(None) == Total(10, 1)


def test_bars_are_scaled_to_the_largest_published_total_in_the_order_given() -> None:
    chart = charts.bar_chart([("2026-01", Total(10, 0)), ("2026-02", Total(40, 0)),
                              ("2026-03", Total(0, 1)), ("2026-04", Total(20, 2))])
    assert [b.label for b in chart.bars] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert [b.length for b in chart.bars] == [BAR_AREA / 4, BAR_AREA, 0, BAR_AREA / 2]
    assert [b.display for b in chart.bars] == ["10", "40", "<5", "≥ 20"]
    assert [b.partial for b in chart.bars] == [False, False, True, True]
    tops = [b.top for b in chart.bars]
    assert tops == sorted(tops) and len(set(tops)) == 4 and chart.height > tops[-1]


def test_nothing_to_draw_is_an_empty_chart_not_a_division_by_zero() -> None:
    assert charts.bar_chart([("MX", Total(0, 0))]).bars[0].length == 0
    assert charts.bar_chart([]).bars == []


def test_a_duration_bar_reaches_its_median_and_marks_its_90th_percentile() -> None:
    chart = charts.duration_chart([Duration("MX → HN", 3600, 7200, "12"),
                                   Duration("MX → GT", 1800, 3600, "9"),
                                   Duration("MX → US", None, None, "<5")])
    first, second, hidden = chart.bars
    assert (first.length, first.p90_x) == (BAR_AREA / 2, BAR_AREA)
    assert (second.length, second.p90_x) == (BAR_AREA / 4, BAR_AREA / 2)
    assert (first.median, first.p90, first.count) == ("60 min", "2 h", "12")
    assert (hidden.length, hidden.p90_x, hidden.median, hidden.p90) == (0, None, "<5", "<5")


def test_durations_read_in_the_unit_that_fits() -> None:
    assert [charts.duration_text(s) for s in (45, 600, 5 * 3600, 3 * 86400, None)] == \
        ["45 s", "10 min", "5 h", "3 d", "<5"]


def test_a_matrix_shades_by_published_counts_and_shows_suppressed_ones_as_such() -> None:
    grid = charts.matrix(["Mexico", "Honduras"], ["Guatemala", "Mexico"],
                         {(0, 0): Total(40, 0), (0, 1): Total(10, 1), (1, 1): Total(0, 1)})
    assert [[c.display for c in row] for row in grid.cells] == [["40", "≥ 10"], ["0", "<5"]]
    assert [[c.shade for c in row] for row in grid.cells] == [[4, 1], [0, 0]]


def _macros() -> object:
    folder = Path(shared.web.__file__).parent / "templates"
    env = Environment(loader=FileSystemLoader(str(folder)), autoescape=True)
    return env.get_template("charts.html").module


def test_the_bar_macro_draws_a_titled_image_and_the_same_numbers_as_a_table() -> None:
    chart = charts.bar_chart([("2026-01", Total(10, 0)), ("2026-02", Total(0, 1))])
    html = str(_macros().bar_chart("c", "Referrals by month", chart, "Month", "Count"))  # type: ignore[attr-defined]
    assert '<figure class="chart" id="c" aria-labelledby="c-caption">' in html
    assert '<figcaption id="c-caption">Referrals by month</figcaption>' in html
    assert "<title>Referrals by month</title>" in html
    assert re.findall(r'<rect class="bar[^"]*" x="0" y="[\d.]+" width="([\d.]+)"', html) == \
        [str(float(BAR_AREA)), "0.0"]
    rows = re.findall(r'<tr><th scope="row">(.*?)</th><td>(.*?)</td></tr>', html)
    assert rows == [("2026-01", "10"), ("2026-02", "&lt;5")]
    assert "style=" not in html and "<script" not in html


def test_the_duration_macro_marks_the_90th_percentile_only_where_published() -> None:
    chart = charts.duration_chart([Duration("MX → HN", 3600, 7200, "12"),
                                   Duration("MX → US", None, None, "<5")])
    html = str(_macros().duration_chart(  # type: ignore[attr-defined]
        "d", "Time", chart, "Pair", "Median", "p90", "Measured", "legend"))
    assert html.count('class="p90"') == 1
    assert re.findall(r"<td>(.*?)</td>", html) == ["60 min", "2 h", "12", "&lt;5", "&lt;5",
                                                   "&lt;5"]
