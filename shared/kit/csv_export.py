"""CSV for spreadsheets, safe against formula injection: a cell that a spreadsheet would read
as a formula (starting with =, +, -, @, a tab or a carriage return) is written with a leading
apostrophe, so it shows as the text it is (OWASP's advice for CSV injection)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

from fastapi.responses import Response

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


def safe_cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    writer.writerows([safe_cell(v) for v in row] for row in rows)
    return out.getvalue()


def csv_response(filename: str, header: Sequence[str],
                 rows: Iterable[Sequence[object]]) -> Response:
    """An attachment named `filename` (ASCII, no quotes: the caller's constant)."""
    return Response(csv_text(header, rows), media_type=CSV_MEDIA_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
