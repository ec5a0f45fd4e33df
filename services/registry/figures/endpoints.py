"""The regional figures over HTTP: a table as JSON, or as CSV for spreadsheets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from services.registry.figures.combination import table_dimensions
from services.registry.figures.service import regional_figures
from shared.kit.csv_export import csv_response
from shared.kit.problems import problem_responses
from shared.protocol.acting import Caller
from shared.protocol.auth import SessionDep
from shared.protocol.figures import (
    CATALOGUE,
    COUNTRY,
    MONTH,
    Dimension,
    FigureQuery,
    FigureTable,
    Indicator,
    Kind,
)

router = APIRouter(prefix="/v1", tags=["figures"], responses=problem_responses(401, 403, 422))

Month = Annotated[str | None, Query(pattern=MONTH.pattern, description="YYYY-MM, included")]


def figure_query(
    indicator: Indicator,
    by: Annotated[Dimension | None, Query(description="One of the indicator's breakdowns")
                  ] = None,
    since: Month = None,
    until: Month = None,
    country: Annotated[list[Annotated[str, Query(pattern=COUNTRY.pattern)]] | None, Query(
        description="Only these countries (as origin, or as the country counted); "
        "repeat for several")] = None,
) -> FigureQuery:
    return FigureQuery(indicator=indicator, by=by, since=since, until=until,
                       countries=tuple(country or ()))


Figures = Annotated[FigureQuery, Depends(figure_query)]


@router.get("/figures", response_model=FigureTable, operation_id="figures_read")
def read_figures(request: Request, session: SessionDep, caller: Caller, query: Figures
                 ) -> FigureTable:
    """The region's figures of one indicator, suppressed: a count from 1 to 4, and any that
    would let one be derived, is shown as "<5" (value null). Regional administrators,
    auditors, and countries' administrators and supervisors (through their gateway)."""
    return regional_figures(session, caller, query, request.app.state.directory)


@router.get("/figures.csv", operation_id="figures_export",
            responses={200: {"content": {"text/csv": {}}}})
def export_figures(request: Request, session: SessionDep, caller: Caller, query: Figures
                   ) -> Response:
    """The same table as CSV (cells that a spreadsheet would read as formulas are quoted)."""
    table = regional_figures(session, caller, query, request.app.state.directory)
    dimensions = table_dimensions(query)
    timed = CATALOGUE[query.indicator].kind is Kind.timed
    header = [d.value for d in dimensions] + ["value"] + (
        ["median_seconds", "p90_seconds"] if timed else [])
    rows = [[cell.dims[d] for d in dimensions] + [cell.display] + (
        [cell.median_seconds, cell.p90_seconds] if timed else []) for cell in table.cells]
    return csv_response(f"figures-{query.indicator.value}.csv", header, rows)
