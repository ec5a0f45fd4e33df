"""Regional figures without personal data: the catalogue of indicators (docs/figures.md), the
cells a gateway reports for its own institutions, and the signed statistics report that
carries them to the registry, which combines the region and publishes it suppressed.

What a gateway reports is counts and durations only, at the catalogue's granularity: a cell
names an indicator and values of the indicator's fixed dimensions plus at most one of its
breakdowns; months, never dates; seconds, never moments. No case reference, name, date of
birth or exact date can be put in a cell: every dimension takes a value from a closed
vocabulary (a country, a month `YYYY-MM`, a code), checked here on both sides.
"""

from __future__ import annotations

import functools
import re
from enum import StrEnum
from typing import Annotated, Literal

from joserfc.jwk import OKPKey
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from shared.protocol.envelope import sign

STATISTICS_MEDIA_TYPE = "enlace-statistics+jws"
REPORT_VERSION: Literal["1"] = "1"
SMALLEST_PUBLISHED_COUNT = 5  # a count from 1 to 4 is published as "<5"
SUPPRESSED = "<5"

AGE_BANDS = ("0-5", "6-11", "12-14", "15-17", "unknown")
UNKNOWN = "unknown"


def age_band(age: int | None) -> str:
    """The band of an age in whole years (a date of birth's or an estimate's)."""
    if age is None or age < 0 or age > 17:
        return UNKNOWN
    if age <= 5:
        return "0-5"
    if age <= 11:
        return "6-11"
    if age <= 14:
        return "12-14"
    return "15-17"


class Dimension(StrEnum):
    month = "month"  # YYYY-MM of the indicator's moment (a referral's sending ...)
    origin = "origin"  # a country, ISO 3166-1 alpha-2
    destination = "destination"
    country = "country"
    age_band = "age_band"
    sex = "sex"
    accompaniment = "accompaniment"
    protection_need = "protection_need"
    urgency = "urgency"
    purpose = "purpose"
    state = "state"
    outcome = "outcome"  # accepted / rejected / closed ... (the referral lifecycle's codes)
    reason = "reason"  # a rejection or quarantine reason code
    detection_area = "detection_area"  # the directory's area id (first administrative area)
    category = "category"  # an alert's category
    target = "target"  # an alert's target country
    topic = "topic"  # a focal point's topic


class Source(StrEnum):
    gateway = "gateway"  # each gateway counts its own records and reports them
    registry = "registry"  # the registry counts what it holds (consents, agreements, directory)


class Kind(StrEnum):
    counted = "count"
    timed = "duration"  # median and 90th percentile in seconds, with the count measured


class Indicator(StrEnum):
    referrals = "referrals"
    referral_time_to_delivered = "referral-time-to-delivered"
    referral_time_to_accepted = "referral-time-to-accepted"
    referral_time_to_closed = "referral-time-to-closed"
    referral_answers = "referral-answers"
    alerts = "alerts"
    alert_time_to_received = "alert-time-to-received"
    alert_time_to_acknowledged = "alert-time-to-acknowledged"
    alert_time_to_located = "alert-time-to-located"
    alerts_active_after_located = "alerts-active-after-located"
    consents_recorded = "consents-recorded"
    consents_withdrawn = "consents-withdrawn"
    quarantined = "quarantined"
    focal_points = "focal-points"
    directory_entries_unreviewed = "directory-entries-unreviewed"
    agreements_in_force = "agreements-in-force"


class Spec(BaseModel):
    """An indicator: what it counts or times, over which fixed dimensions, and which single
    breakdown a figure may add. docs/figures.md gives each one's definition in full."""

    model_config = ConfigDict(frozen=True)

    kind: Kind
    source: Source
    dimensions: tuple[Dimension, ...]
    breakdowns: tuple[Dimension, ...] = ()
    title_en: str
    title_es: str


D = Dimension
REFERRAL_BREAKDOWNS = (D.age_band, D.sex, D.accompaniment, D.protection_need, D.urgency,
                       D.purpose, D.state, D.outcome, D.detection_area)
PAIR_MONTH = (D.origin, D.destination, D.month)

CATALOGUE: dict[Indicator, Spec] = {
    Indicator.referrals: Spec(
        kind=Kind.counted, source=Source.gateway, dimensions=PAIR_MONTH,
        breakdowns=REFERRAL_BREAKDOWNS,
        title_en="Referrals", title_es="Remisiones"),
    Indicator.referral_time_to_delivered: Spec(
        kind=Kind.timed, source=Source.gateway, dimensions=PAIR_MONTH,
        title_en="Time from sent to delivered", title_es="Tiempo de enviada a entregada"),
    Indicator.referral_time_to_accepted: Spec(
        kind=Kind.timed, source=Source.gateway, dimensions=PAIR_MONTH,
        title_en="Time from sent to accepted", title_es="Tiempo de enviada a aceptada"),
    Indicator.referral_time_to_closed: Spec(
        kind=Kind.timed, source=Source.gateway, dimensions=PAIR_MONTH,
        title_en="Time from sent to closed", title_es="Tiempo de enviada a cerrada"),
    Indicator.referral_answers: Spec(
        kind=Kind.counted, source=Source.gateway, dimensions=(*PAIR_MONTH, D.outcome),
        breakdowns=(D.reason,),
        title_en="Referrals accepted and rejected", title_es="Remisiones aceptadas y rechazadas"),
    Indicator.alerts: Spec(
        kind=Kind.counted, source=Source.gateway, dimensions=(D.origin, D.month),
        breakdowns=(D.category,),
        title_en="Missing-child alerts", title_es="Alertas de niñez desaparecida"),
    Indicator.alert_time_to_received: Spec(
        kind=Kind.timed, source=Source.gateway, dimensions=(D.origin, D.target, D.month),
        title_en="Time until each target country received an alert",
        title_es="Tiempo hasta que cada país destinatario recibió la alerta"),
    Indicator.alert_time_to_acknowledged: Spec(
        kind=Kind.timed, source=Source.gateway, dimensions=(D.origin, D.target, D.month),
        title_en="Time until each target country acknowledged an alert",
        title_es="Tiempo hasta que cada país destinatario acusó recibo de la alerta"),
    Indicator.alert_time_to_located: Spec(
        kind=Kind.timed, source=Source.gateway, dimensions=(D.origin, D.month),
        title_en="Time until the child was located", title_es="Tiempo hasta la localización"),
    Indicator.alerts_active_after_located: Spec(
        kind=Kind.counted, source=Source.gateway, dimensions=(D.origin, D.target, D.month),
        title_en="Alerts still active after the child was located",
        title_es="Alertas activas después de localizar a la niña o el niño"),
    Indicator.consents_recorded: Spec(
        kind=Kind.counted, source=Source.registry, dimensions=(D.country, D.month),
        title_en="Consents recorded", title_es="Consentimientos registrados"),
    Indicator.consents_withdrawn: Spec(
        kind=Kind.counted, source=Source.registry, dimensions=(D.country, D.month),
        title_en="Consents withdrawn", title_es="Consentimientos retirados"),
    Indicator.quarantined: Spec(
        kind=Kind.counted, source=Source.gateway, dimensions=(D.country, D.month),
        breakdowns=(D.reason,),
        title_en="Messages quarantined", title_es="Mensajes en cuarentena"),
    Indicator.focal_points: Spec(
        kind=Kind.counted, source=Source.registry, dimensions=(D.country,), breakdowns=(D.topic,),
        title_en="Focal points named", title_es="Puntos focales designados"),
    Indicator.directory_entries_unreviewed: Spec(
        kind=Kind.counted, source=Source.registry, dimensions=(D.country,),
        title_en="Directory entries not reviewed for a year",
        title_es="Entradas del directorio sin revisar en un año"),
    Indicator.agreements_in_force: Spec(
        kind=Kind.counted, source=Source.registry, dimensions=(D.country,),
        title_en="Agreements in force", title_es="Acuerdos vigentes"),
}

MONTH = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")
COUNTRY = re.compile(r"^[A-Z]{2}$")
CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # every other dimension's value is a code


@functools.lru_cache(maxsize=4096)  # a report repeats a few values thousands of times
def valid_value(dimension: Dimension, value: str) -> bool:
    if dimension is Dimension.month:
        return bool(MONTH.match(value))
    if dimension in (Dimension.origin, Dimension.destination, Dimension.country,
                     Dimension.target):
        return bool(COUNTRY.match(value))
    if dimension is Dimension.age_band:
        return value in AGE_BANDS
    return bool(CODE.match(value))


class Cell(BaseModel):
    """One figure a gateway reports: an indicator at values of all its dimensions and of at
    most one breakdown. A count has `count`; a duration also its median and 90th percentile
    in whole seconds over the `count` items measured."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    indicator: Indicator
    dims: dict[Dimension, str]
    count: Annotated[int, Field(ge=0, le=2**53)]
    median_seconds: Annotated[int, Field(ge=0)] | None = None
    p90_seconds: Annotated[int, Field(ge=0)] | None = None

    @field_validator("dims")
    @classmethod
    def _closed(cls, dims: dict[Dimension, str]) -> dict[Dimension, str]:
        for dimension, value in dims.items():
            if not valid_value(dimension, value):
                raise ValueError(f"not a value of {dimension.value}")  # never echoed
        return dims

    def fits_catalogue(self) -> bool:
        spec = CATALOGUE[self.indicator]
        extra = set(self.dims) - set(spec.dimensions)
        timed = self.median_seconds is not None and self.p90_seconds is not None
        return (set(spec.dimensions) <= set(self.dims) and len(extra) <= 1
                and extra <= set(spec.breakdowns) and timed == (spec.kind is Kind.timed))


MAX_REPORT_PARTS = 64
# A part's cells, as JSON, stay under this: signed (base64url, a third more) with its
# headers, a part is about 0.65 MB, well under NATS's max_payload of 1 MB (deploy/nats).
MAX_PART_CELLS_BYTES = 480_000


class StatisticsReport(BaseModel):
    """What one institution's gateway reports: the whole current set of its cells (not a
    change), so the registry keeps the newest report of each institution and nothing else.

    A report too large for one NATS message is sent as `parts` messages, each a signed
    StatisticsReport with the same report_id, institution, country and computed_at, and a
    share of the cells; `part` is its number, from 1. The registry takes a report in only
    when all its parts have arrived and verified (docs/protocol.md §11)."""

    model_config = ConfigDict(extra="forbid")

    v: Literal["1"] = REPORT_VERSION
    report_id: Annotated[str, Field(pattern=r"^[0-9a-f-]{36}$")]
    institution_id: Annotated[str, Field(min_length=1, max_length=64,
                                         pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")]
    country: Annotated[str, Field(pattern=COUNTRY.pattern)]
    computed_at: AwareDatetime  # when the gateway computed it, not any child's moment
    part: Annotated[int, Field(ge=1, le=MAX_REPORT_PARTS)] = 1
    parts: Annotated[int, Field(ge=1, le=MAX_REPORT_PARTS)] = 1
    cells: Annotated[list[Cell], Field(max_length=200_000)]

    @model_validator(mode="after")
    def _part_of_parts(self) -> StatisticsReport:
        if self.part > self.parts:
            raise ValueError("part is beyond parts")
        return self


def split_report(report: StatisticsReport, max_cells_bytes: int = MAX_PART_CELLS_BYTES
                 ) -> list[StatisticsReport]:
    """The report as parts whose cells each take at most `max_cells_bytes` as JSON (a cell
    alone larger would still make its own part), in the order of the cells."""
    chunks: list[list[Cell]] = [[]]
    size = 0
    for cell in report.cells:
        width = len(cell.model_dump_json()) + 1  # as signed: nulls too, and a comma
        if chunks[-1] and size + width > max_cells_bytes:
            chunks.append([])
            size = 0
        chunks[-1].append(cell)
        size += width
    if len(chunks) > MAX_REPORT_PARTS:
        raise ValueError("the report has more cells than its parts may carry")
    return [report.model_copy(update={"part": n, "parts": len(chunks), "cells": cells})
            for n, cells in enumerate(chunks, start=1)]


def sign_report(report: StatisticsReport, key: OKPKey) -> str:
    return sign(report.model_dump(mode="json"), key, STATISTICS_MEDIA_TYPE)


# What a person or a client reads: a table of one indicator --------------------------------


class FigureQuery(BaseModel):
    """One indicator, optionally broken down by one of its breakdowns, over a period of whole
    months (both ends included), optionally for some countries (as origin or as the fixed
    country dimension)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    indicator: Indicator
    by: Dimension | None = None
    since: Annotated[str, Field(pattern=MONTH.pattern)] | None = None
    until: Annotated[str, Field(pattern=MONTH.pattern)] | None = None
    countries: tuple[Annotated[str, Field(pattern=COUNTRY.pattern)], ...] = ()


class PublishedCell(BaseModel):
    """A cell as shown: `value` is None where it is suppressed (`display` then "<5", or "" for
    a complementary suppression shown as "<5" too: a reader cannot tell them apart)."""

    dims: dict[Dimension, str]
    value: int | None
    display: str
    median_seconds: int | None = None
    p90_seconds: int | None = None


class FigureTable(BaseModel):
    """The answer to a `FigureQuery`: its cells in a stable order (by dims), and whether the
    set was suppressed (regional) or is a country's own full detail."""

    query: FigureQuery
    suppressed: bool
    computed_at: AwareDatetime | None  # the oldest report the table draws on
    cells: list[PublishedCell]
