"""The referral form's fields as the API's body: numbered rows, local times, errors at fields."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError
from starlette.datastructures import FormData

from services.exchange.console.views import field_errors, record_sections, referral_from_form
from services.exchange.referrals.schemas import ReferralCreate

REQUIRED = [
    ("recipient_id", "hn-senaf"), ("case_reference", "MX-WEB-1"),
    ("purpose", "reception-and-care"), ("record.child.given_names", "Ana"),
    ("record.child.family_names", "Ejemplo Ficticio"), ("record.child.sex", "female"),
    ("record.child.estimated_age", "12"), ("record.accompaniment.status", "unaccompanied"),
    ("record.protection.urgency", "urgent"), ("record.requested_services", "reception"),
]
MEXICO_CITY = ZoneInfo("America/Mexico_City")


def test_only_filled_sections_and_rows_are_sent_and_local_times_get_the_persons_zone() -> None:
    body, rows = referral_from_form(FormData([
        *REQUIRED, ("record.family.relatives.1.relationship", "grandmother"),
        ("record.family.relatives.1.traced", "yes"), ("record.health.pregnancy", "no"),
        ("record.detection.at", "2026-11-18T09:30"), ("record.detection.country", "mx"),
    ]), MEXICO_CITY)
    record = ReferralCreate.model_validate(body).record
    assert record.family is not None
    assert [(r.relationship, r.traced) for r in record.family.relatives] == [("grandmother", True)]
    assert rows["record.family.relatives"] == [1]
    assert record.health is not None and record.health.pregnancy is False
    assert record.detection is not None and record.detection.country == "MX"
    assert record.detection.at.utcoffset() is not None
    assert record.detection.at.isoformat() == "2026-11-18T09:30:00-06:00"
    assert record.reception is None and record.documents == [] and record.child_views is None


def test_an_error_in_a_row_is_shown_at_that_rows_field() -> None:
    body, rows = referral_from_form(FormData([
        *REQUIRED, ("record.family.relatives.2.name", "Rosa Ejemplo Ficticio"),
        ("record.documents.1.sha256", "not a digest"),
        ("record.child.nationalities", "HN, Honduras"),
    ]), MEXICO_CITY)
    with pytest.raises(ValidationError) as invalid:
        ReferralCreate.model_validate(body)
    errors = field_errors(invalid.value, rows)
    assert set(errors) == {"record.family.relatives.2.relationship",
                           "record.documents.1.type", "record.documents.1.sha256",
                           "record.child"}
    assert errors["record.documents.1.sha256"].startswith("Write the file's SHA-256")


def test_the_best_interests_status_is_shown_in_words() -> None:
    sections = record_sections({"best_interests": {"status": "bid-done"}}, ["legal-status"])
    shown = next(s for s in sections if s.name == "best_interests")
    assert shown.rows is not None
    assert [(r.kind, r.value) for r in shown.rows] == [
        ("message", "best interests determination done")]
