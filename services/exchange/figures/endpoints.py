"""The country's own figures in the gateway's HTTP API, as JSON and as CSV."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from fastapi.responses import Response

from services.exchange.api import exchange_router
from services.exchange.figures.service import own_figures, table_rows
from shared.kit.csv_export import csv_response
from shared.kit.errors import Unprocessable
from shared.protocol.auth import CurrentPrincipal, SessionDep
from shared.protocol.figures import (
    COUNTRY,
    MONTH,
    Dimension,
    FigureQuery,
    FigureTable,
    Indicator,
)

router = exchange_router("figures")


def figure_query(
    indicator: Annotated[str, Query(description="An indicator of docs/figures.md.")],
    by: Annotated[str | None, Query(description="One of the indicator's breakdowns.")] = None,
    since: Annotated[str | None, Query(description="First month, YYYY-MM.")] = None,
    until: Annotated[str | None, Query(description="Last month, YYYY-MM.")] = None,
    country: Annotated[list[str] | None, Query(description="Countries (ISO 3166-1 alpha-2), "
                                               "as origin or country.")] = None,
) -> FigureQuery:
    """The query's parameters, each refused with its own stable code."""
    if indicator not in set(Indicator):
        raise Unprocessable("Name an indicator of the catalogue.", code="unknown_indicator")
    if by is not None and by not in set(Dimension):
        raise Unprocessable("Name a dimension of the catalogue.", code="unknown_dimension")
    for month in (since, until):
        if month is not None and not MONTH.match(month):
            raise Unprocessable("Give months as YYYY-MM.", code="invalid_month")
    if any(not COUNTRY.match(c) for c in country or []):
        raise Unprocessable("Give countries as ISO 3166-1 alpha-2 codes.",
                            code="invalid_country")
    return FigureQuery(indicator=Indicator(indicator), by=Dimension(by) if by else None,
                       since=since, until=until, countries=tuple(country or ()))


Figures = Annotated[FigureQuery, Depends(figure_query)]


@router.get("/figures", response_model=FigureTable, operation_id="figures_read")
def read_figures(query: Figures, principal: CurrentPrincipal,
                 session: SessionDep) -> FigureTable:
    """This country's own figures of one indicator, in full detail (not suppressed): for its
    administrators and supervisors."""
    return own_figures(session, principal, query)


@router.get("/figures.csv", operation_id="figures_export",
            response_class=Response, responses={200: {"content": {"text/csv": {}}}})
def export_figures(query: Figures, principal: CurrentPrincipal,
                   session: SessionDep) -> Response:
    """The same table as CSV (safe to open in a spreadsheet)."""
    header, rows = table_rows(own_figures(session, principal, query))
    return csv_response(f"figures-{query.indicator.value}.csv", header, rows)
