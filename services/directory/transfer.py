"""Bulk import and export of directory entries as CSV or JSON.

JSON is an array of entries exactly as the API writes them. CSV has one column per field;
lists of codes are joined with "|" (reception|family-tracing), channels and translations are
JSON in their cell, empty cells take the default. Either way, a line is a whole entry.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from pydantic import BaseModel

from shared.kit.errors import Problem, Unprocessable

CSV_MEDIA_TYPE = "text/csv"
JSON_MEDIA_TYPE = "application/json"
LIST_SEPARATOR = "|"
LIST_FIELDS = {"competences", "topics", "areas", "languages"}
JSON_FIELDS = {"channels", "translations"}
MAX_LINES = 100_000
MAX_BYTES = 50 * 1024 * 1024
BEYOND_HEADER = "(cells beyond the header)"

Lines = list[tuple[int, Any]]


class UnsupportedMediaType(Problem):
    status, code, title = 415, "unsupported_media_type", "Unsupported media type"


class PayloadTooLarge(Problem):
    status, code, title = 413, "payload_too_large", "Payload too large"


def _cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name in LIST_FIELDS:
        return LIST_SEPARATOR.join(value)
    if name in JSON_FIELDS:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")) if value else ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_csv(model: type[BaseModel], records: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(model.model_fields), lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({name: _cell(name, value) for name, value in record.items()})
    return out.getvalue()


def to_json(records: list[dict[str, Any]]) -> str:
    return json.dumps(records, ensure_ascii=False, indent=1)


def _from_cell(name: str, value: str) -> Any:
    if name in LIST_FIELDS:
        return [part.strip() for part in value.split(LIST_SEPARATOR) if part.strip()]
    if name in JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            return value  # reported by validation as the wrong type, at this field
    return value


def from_csv(model: type[BaseModel], body: bytes) -> Lines:
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Unprocessable("The CSV file is not UTF-8.", code="invalid_encoding") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""), restkey=BEYOND_HEADER)
    unknown = [name for name in reader.fieldnames or [] if name not in model.model_fields]
    if unknown or not reader.fieldnames:
        errors = [{"line": 1, "field": name, "code": "unknown_column",
                   "message": "This column is not a field of the entry."} for name in unknown]
        raise Unprocessable("The header line names unknown columns, or is missing; nothing was "
                            "applied.", code="import_rejected", errors=errors)
    lines: Lines = []
    for row in reader:
        raw = {name: _from_cell(name, value.strip()) for name, value in row.items()
               if isinstance(value, str) and value.strip()}
        if row.get(BEYOND_HEADER):
            raw[BEYOND_HEADER] = row[BEYOND_HEADER]
        lines.append((reader.line_num, raw))
    return lines


def from_json(body: bytes) -> Lines:
    try:
        items = json.loads(body)
    except ValueError as exc:
        raise Unprocessable("The body is not JSON.", code="invalid_json") from exc
    if not isinstance(items, list):
        raise Unprocessable("The body must be a JSON array of entries.", code="invalid_json")
    return list(enumerate(items, start=1))


def parse(model: type[BaseModel], media_type: str, body: bytes) -> Lines:
    if len(body) > MAX_BYTES:
        raise PayloadTooLarge(f"An import is at most {MAX_BYTES // 2**20} MiB.")
    kind = media_type.split(";")[0].strip().lower()
    if kind == CSV_MEDIA_TYPE:
        lines = from_csv(model, body)
    elif kind == JSON_MEDIA_TYPE:
        lines = from_json(body)
    else:
        raise UnsupportedMediaType(f"Send {CSV_MEDIA_TYPE} or {JSON_MEDIA_TYPE}.")
    if not lines:
        raise Unprocessable("The import holds no entry.", code="empty_import")
    if len(lines) > MAX_LINES:
        raise Unprocessable(f"An import holds at most {MAX_LINES} entries.",
                            code="too_many_lines")
    return lines
