"""The Figures page both consoles show: the gateway's (its own country in full detail) and the
registry's (the region, suppressed). docs/figures.md defines the indicators.

Where the figures come from is a seam, `FigureSource`, on `app.state.figure_source` (set by the
service's app factory): the page calls it as the signed-in person's `Principal`, so it sees
exactly what the API would give that person. Without one the page says figures are not
available yet.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

from fastapi import Request, Response
from pydantic import ValidationError
from sqlmodel import Session

from shared.kit.errors import Problem
from shared.protocol.auth import Principal
from shared.protocol.figures import (
    CATALOGUE,
    SUPPRESSED,
    Dimension,
    FigureQuery,
    FigureTable,
    Indicator,
    Kind,
    PublishedCell,
)
from shared.web import charts, i18n
from shared.web.i18n import N_
from shared.web.kit import Visitor, render


class FigureSource(Protocol):
    def table(self, session: Session, principal: Principal, query: FigureQuery) -> FigureTable:
        ...


@dataclass(frozen=True)
class FunctionSource:
    """A `FigureSource` from a service function such as `own_figures(session, principal,
    query)`."""

    function: Callable[[Session, Principal, FigureQuery], FigureTable]

    def table(self, session: Session, principal: Principal, query: FigureQuery) -> FigureTable:
        return self.function(session, principal, query)


DEFAULT_INDICATOR = Indicator.referrals
CSV_PATH = "/v1/figures.csv"  # the same service's API, with the same query

DIMENSION_NAMES = {
    Dimension.month: N_("Month"), Dimension.origin: N_("Origin"),
    Dimension.destination: N_("Destination"), Dimension.country: N_("Country"),
    Dimension.age_band: N_("Age band"), Dimension.sex: N_("Sex"),
    Dimension.accompaniment: N_("Accompaniment"),
    Dimension.protection_need: N_("Protection need"), Dimension.urgency: N_("Urgency"),
    Dimension.purpose: N_("Purpose"), Dimension.state: N_("State"),
    Dimension.outcome: N_("Outcome"), Dimension.reason: N_("Reason"),
    Dimension.detection_area: N_("Place of detection"), Dimension.category: N_("Category"),
    Dimension.target: N_("Target country"), Dimension.topic: N_("Topic"),
}
# The console's vocabulary (shared/web/i18n.py) that shows a dimension's values.
VALUE_VOCABULARIES = {
    Dimension.origin: "country", Dimension.destination: "country",
    Dimension.country: "country", Dimension.target: "country", Dimension.sex: "sex",
    Dimension.accompaniment: "accompaniment", Dimension.urgency: "urgency",
    Dimension.purpose: "purpose", Dimension.state: "status", Dimension.outcome: "status",
    Dimension.category: "alert_category", Dimension.topic: "topic",
}
COUNTRY_DIMENSIONS = (Dimension.origin, Dimension.country, Dimension.target)
# What a duration indicator's items measured are, month by month (the count of its cells).
MEASURED_BY_MONTH = {
    Indicator.referral_time_to_delivered: N_("Referrals delivered, by month sent"),
    Indicator.referral_time_to_accepted: N_("Referrals accepted, by month sent"),
    Indicator.referral_time_to_closed: N_("Referrals closed, by month sent"),
    Indicator.alert_time_to_received: N_("Alerts received by target countries, by month issued"),
    Indicator.alert_time_to_acknowledged: N_(
        "Alerts acknowledged by target countries, by month issued"),
    Indicator.alert_time_to_located: N_("Children located, by month the alert was issued"),
}
NOT_AVAILABLE = N_("Figures are not available yet on this service.")
PROBLEM_MESSAGES = {
    "role_not_allowed": N_("Your role does not allow you to see these figures."),
}
FALLBACK_PROBLEM = N_("The figures could not be computed. Try again later.")


def indicator_title(indicator: Indicator, language: str) -> str:
    spec = CATALOGUE[indicator]
    return spec.title_es if language == "es" else spec.title_en


@dataclass(frozen=True)
class Filters:
    """What the page's form asked for, as typed (never echoed in a message)."""

    indicator: str
    by: str
    since: str
    until: str
    country: str

    @classmethod
    def of(cls, request: Request) -> Filters:
        params = request.query_params
        return cls(params.get("indicator") or DEFAULT_INDICATOR.value, params.get("by") or "",
                   params.get("since") or "", params.get("until") or "",
                   params.get("country") or "")

    @classmethod
    def of_query(cls, query: FigureQuery) -> Filters:
        return cls(query.indicator.value, query.by.value if query.by else "",
                   query.since or "", query.until or "",
                   query.countries[0] if query.countries else "")

    def query(self) -> tuple[FigureQuery | None, bool]:
        """The `FigureQuery` asked for, None when it is not one (an unknown indicator, a month
        that is not YYYY-MM ...); and whether a breakdown the indicator does not allow (left
        from the indicator chosen before) was dropped."""
        try:
            query = FigureQuery(indicator=Indicator(self.indicator),
                                by=Dimension(self.by) if self.by else None,
                                since=self.since or None, until=self.until or None,
                                countries=(self.country,) if self.country else ())
        except (ValueError, ValidationError):
            return None, False
        if query.by is not None and query.by not in CATALOGUE[query.indicator].breakdowns:
            return query.model_copy(update={"by": None}), True
        return query, False


def query_params(query: FigureQuery) -> list[tuple[str, str]]:
    """A query as the API's query string (and the page's own)."""
    params = [("indicator", query.indicator.value)]
    if query.by is not None:
        params.append(("by", query.by.value))
    if query.since:
        params.append(("since", query.since))
    if query.until:
        params.append(("until", query.until))
    params.extend(("country", country) for country in query.countries)
    return params


def render_figures(request: Request, visitor: Visitor, session: Session, *, heading: str,
                   intro: str) -> Response:
    """The Figures page for the query in the request's query string."""
    asked, breakdown_dropped = Filters.of(request).query()
    query = asked or FigureQuery(indicator=DEFAULT_INDICATOR)
    context: dict[str, Any] = dict(
        heading=heading, intro=intro, filters=Filters.of_query(query), bad_filter=asked is None,
        breakdown_dropped=breakdown_dropped,
        form=_form(visitor, query), csv_link=f"{CSV_PATH}?{urlencode(query_params(query))}",
        views=None, message=None)
    source: FigureSource | None = getattr(request.app.state, "figure_source", None)
    if source is None:
        context["message"] = visitor.gettext(NOT_AVAILABLE)
        return render(request, visitor, "figures.html", status=503, **context)
    try:
        table = source.table(session, visitor.principal, query)
    except Problem as problem:
        context["message"] = visitor.gettext(PROBLEM_MESSAGES.get(problem.code, FALLBACK_PROBLEM))
        return render(request, visitor, "figures.html", status=problem.status, **context)
    context["views"] = FigureViews.of(table, visitor)
    return render(request, visitor, "figures.html", **context)


@dataclass(frozen=True)
class Form:
    indicators: list[tuple[str, str]]
    breakdowns: list[tuple[str, str]]  # of the current indicator
    countries: list[tuple[str, str]]


def _form(visitor: Visitor, query: FigureQuery) -> Form:
    language = visitor.language
    return Form(
        [(i.value, indicator_title(i, language)) for i in Indicator],
        [(d.value, visitor.gettext(DIMENSION_NAMES[d]))
         for d in CATALOGUE[query.indicator].breakdowns],
        visitor.options("country"),
    )


def value_label(language: str, dimension: Dimension, value: str) -> str:
    if value == "unknown":
        return str(i18n.translations(language).gettext("unknown"))
    vocabulary = VALUE_VOCABULARIES.get(dimension)
    if dimension is Dimension.reason and value in i18n.VOCABULARY["quarantine_reason"]:
        vocabulary = "quarantine_reason"
    return i18n.label(language, vocabulary, value) if vocabulary else value


@dataclass(frozen=True)
class Chart:
    caption: str
    label_heading: str
    drawing: Any  # a charts.BarChart, DurationChart or Matrix


@dataclass(frozen=True)
class FigureViews:
    """What the page draws from a table: the charts that fit its indicator, and every cell."""

    title: str
    suppressed: bool
    computed_at: Any
    by_month: Chart | None
    pairs: Chart | None  # origin x destination
    by_country: Chart | None
    by_breakdown: Chart | None
    durations: Chart | None
    columns: list[str]
    rows: list[list[str]]  # the dimensions' labels, then the value (and median, p90)
    timed: bool

    @classmethod
    def of(cls, table: FigureTable, visitor: Visitor) -> FigureViews:
        language, _ = visitor.language, visitor.gettext  # _ as in the templates
        query = table.query
        spec = CATALOGUE[query.indicator]
        timed = spec.kind is Kind.timed
        dims = [*spec.dimensions, *([query.by] if query.by else [])]
        name = {d: _(DIMENSION_NAMES[d]) for d in dims}

        def label(dimension: Dimension, value: str) -> str:
            return value_label(language, dimension, value)

        cells = table.cells
        value_heading = _("Measured") if timed else _("Count")

        def bars(dimension: Dimension, caption: str) -> Chart | None:
            if dimension not in dims or not cells:
                return None
            totals = _totals_by(cells, dimension)
            rows = [(label(dimension, value), t) for value, t in sorted(totals.items())]
            return Chart(caption, name[dimension], charts.bar_chart(rows))

        title = indicator_title(query.indicator, language)
        by_month = bars(Dimension.month, _(MEASURED_BY_MONTH[query.indicator]) if timed
                        else _("%(indicator)s by month", indicator=title))
        pairs = None
        if not timed and {Dimension.origin, Dimension.destination} <= set(dims) and cells:
            pairs = Chart(_("%(indicator)s by origin (rows) and destination (columns)",
                            indicator=title), name[Dimension.origin],
                          _pair_matrix(cells, lambda v: label(Dimension.country, v)))
        country = next((d for d in COUNTRY_DIMENSIONS if d in dims), None)
        by_country = None
        if country is not None and pairs is None and not timed:
            by_country = bars(country, _("%(indicator)s by %(dimension)s", indicator=title,
                                         dimension=name[country].lower()))
        by_breakdown = None
        if query.by is not None:
            by_breakdown = bars(query.by, _("%(indicator)s by %(dimension)s", indicator=title,
                                            dimension=name[query.by].lower()))
        durations = None
        if timed and cells:
            durations = Chart(
                _("%(indicator)s: median, with the 90th percentile marked", indicator=title),
                _("Where and when"),
                charts.duration_chart(charts.Duration(
                    _cell_label(cell, dims, label), cell.median_seconds, cell.p90_seconds,
                    cell.display or SUPPRESSED) for cell in cells))
        columns = [name[d] for d in dims] + [value_heading]
        if timed:
            columns += [_("Median"), _("90th percentile")]
        rows = []
        for cell in cells:
            row = [label(d, cell.dims.get(d, "")) for d in dims] + [cell.display or SUPPRESSED]
            if timed:
                row += [charts.duration_text(cell.median_seconds),
                        charts.duration_text(cell.p90_seconds)]
            rows.append(row)
        return cls(title, table.suppressed, table.computed_at, by_month, pairs, by_country,
                   by_breakdown, durations, columns, rows, timed)


def _totals_by(cells: list[PublishedCell], dimension: Dimension) -> dict[str, charts.Total]:
    totals: dict[str, charts.Total] = defaultdict(charts.Total)
    for cell in cells:
        value = cell.dims.get(dimension)
        if value is not None:
            totals[value] += charts.Total.of(cell.value)
    return totals


def _pair_matrix(cells: list[PublishedCell], label: Callable[[str], str]) -> charts.Matrix:
    origins = sorted({c.dims[Dimension.origin] for c in cells})
    destinations = sorted({c.dims[Dimension.destination] for c in cells})
    totals: dict[tuple[int, int], charts.Total] = defaultdict(charts.Total)
    for cell in cells:
        key = (origins.index(cell.dims[Dimension.origin]),
               destinations.index(cell.dims[Dimension.destination]))
        totals[key] += charts.Total.of(cell.value)
    return charts.matrix([label(o) for o in origins], [label(d) for d in destinations],
                         dict(totals))


def _cell_label(cell: PublishedCell, dims: list[Dimension],
                label: Callable[[Dimension, str], str]) -> str:
    """"Mexico → Honduras · 2026-03": the countries of a cell, then the rest."""
    countries = [label(d, cell.dims[d]) for d in dims
                 if d in (*COUNTRY_DIMENSIONS, Dimension.destination) and d in cell.dims]
    others = [label(d, cell.dims[d]) for d in dims
              if d not in (*COUNTRY_DIMENSIONS, Dimension.destination) and d in cell.dims]
    return " · ".join(filter(None, [" → ".join(countries), *others]))
