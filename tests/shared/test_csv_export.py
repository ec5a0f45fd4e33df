"""CSV export: a cell a spreadsheet would run as a formula is shown as text."""

from __future__ import annotations

import csv
import io

import pytest

from shared.kit.csv_export import csv_text, safe_cell


@pytest.mark.parametrize("text", ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx",
                                  '=HYPERLINK("http://x")'])
def test_a_formula_is_written_as_text(text: str) -> None:
    assert safe_cell(text) == "'" + text


@pytest.mark.parametrize(("value", "written"), [("MX", "MX"), (12, "12"), (None, ""),
                                                 ("<5", "<5"), ("2026-11", "2026-11")])
def test_anything_else_is_written_as_it_is(value: object, written: str) -> None:
    assert safe_cell(value) == written


def test_a_table_reads_back_with_its_header_and_quoting() -> None:
    text = csv_text(["country", "value"], [["MX", 12], ["=cmd", "a,b"], ["HN", None]])
    assert list(csv.reader(io.StringIO(text))) == [
        ["country", "value"], ["MX", "12"], ["'=cmd", "a,b"], ["HN", ""]]
