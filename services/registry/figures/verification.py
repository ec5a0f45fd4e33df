"""Whether a gateway's statistics report may be taken in, and what is kept of one refused.

Cheap checks first (shape, typ, the country of the subject and of the institution), the
signature with a key of the institution last but one, then the cells: each must fit the
catalogue (its fixed dimensions and at most one allowed breakdown), be of an indicator the
gateways count, and be on the reporting side (its first dimension, the origin or the
country, is the report's country); no cell may appear twice. A report is taken whole or
not at all: a report in several parts has each part checked so, and is taken in only once
all its parts are (store.py; a cell twice across its parts refuses it then)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from pydantic import ValidationError

from services.registry.audit_verification import subject_country
from services.registry.directory import Directory
from services.registry.figures.models import StatisticsRefusal
from services.registry.signing_keys import BatchKeys
from shared.protocol.audit_events import (
    MAX_CLOCK_SKEW,
    AuditRejected,
    claimed_id,
    verify_extracted,
)
from shared.protocol.envelope import EnvelopeError, extract, unverified_parts
from shared.protocol.figures import (
    CATALOGUE,
    STATISTICS_MEDIA_TYPE,
    Cell,
    Source,
    StatisticsReport,
)
from shared.protocol.subjects import statistics_subject

# A report is one institution's whole set of cells: larger than joserfc's default bound.
MAX_REPORT_BYTES = 16 * 1024 * 1024


class ReportRefused(Exception):
    """Why a report is not taken in; `code` is stable (docs/registry.md)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def cell_key(cell: Cell) -> tuple[str, frozenset[tuple[str, str]]]:
    return cell.indicator, frozenset(cell.dims.items())


def check_cells(report: StatisticsReport) -> None:
    seen: set[tuple[str, frozenset[tuple[str, str]]]] = set()
    for cell in report.cells:
        spec = CATALOGUE[cell.indicator]
        if spec.source is not Source.gateway:
            raise ReportRefused("not_a_gateway_indicator")
        if not cell.fits_catalogue():
            raise ReportRefused("finer_than_catalogue")
        if cell.dims[spec.dimensions[0]] != report.country:
            raise ReportRefused("not_reporting_side")
        key = cell_key(cell)
        if key in seen:
            raise ReportRefused("duplicate_cell")
        seen.add(key)


def verified_report(data: bytes, subject: str, directory: Directory, keys: BatchKeys,
                    now: datetime | None = None) -> StatisticsReport:
    """The report (or part of one); else ReportRefused, or DirectoryUnavailable (to be
    retried later). The JWS is decoded once and its payload parsed once, into the model."""
    try:
        compact = extract(data.decode(), MAX_REPORT_BYTES)
    except (UnicodeDecodeError, EnvelopeError) as exc:
        raise ReportRefused("malformed") from exc
    header = compact.protected
    if header.get("typ") != STATISTICS_MEDIA_TYPE:
        raise ReportRefused("not_a_statistics_report")
    try:
        report = StatisticsReport.model_validate_json(compact.payload)
    except ValidationError as exc:
        raise ReportRefused("malformed") from exc
    if subject != statistics_subject(report.country):
        raise ReportRefused("wrong_country")
    if report.computed_at > (now or datetime.now(UTC)) + MAX_CLOCK_SKEW:
        raise ReportRefused("computed_in_future")
    home = directory.country_of(report.institution_id)
    if not home:
        raise ReportRefused("unknown_institution")
    if home != report.country:
        raise ReportRefused("wrong_country")
    try:
        verify_extracted(compact, keys.of(report.institution_id, header.get("kid")),
                         report.computed_at)
    except AuditRejected as rejection:
        raise ReportRefused(rejection.code) from rejection
    check_cells(report)
    return report


def refusal_row(data: bytes, subject: str, reason: str) -> StatisticsRefusal:
    institution = None
    try:
        _, claimed = unverified_parts(data.decode(), MAX_REPORT_BYTES)
        institution = claimed_id(claimed.get("institution_id"))
    except (EnvelopeError, UnicodeDecodeError):
        pass
    return StatisticsRefusal(subject_country=subject_country(subject), reason=reason,
                             sha256=hashlib.sha256(data).hexdigest(), size=len(data),
                             institution_id=institution)
