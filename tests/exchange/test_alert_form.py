"""The alert form's fields become the API's `AlertCreate` body, and its errors land on them."""

from __future__ import annotations

from datetime import datetime

import pytest
from pydantic import ValidationError
from starlette.datastructures import FormData

from services.exchange.alerts.schemas import AlertCreate
from services.exchange.console.alert_pages import alert_from_form, field_errors
from shared.web.kit import Visitor
from shared.web.people import Person

FILLED = [
    ("category", "missing"), ("urgency", "urgent"), ("scope", "chosen"),
    ("public.child.given_names", " Ficticio "), ("public.child.family_names", "Ejemplar"),
    ("public.child.sex", "male"), ("public.child.estimated_age", "14"),
    ("public.child.date_of_birth", ""), ("public.last_seen.at", "2026-11-20T23:00"),
    ("public.last_seen.country", "MX"), ("public.last_seen.locality", "Tapachula"),
    ("details.issuing_focal_point.name", "Mesa de alertas"),
    ("target_countries", "HN"), ("target_countries", "GT"),
]


def visitor(language: str = "es") -> Visitor:
    person = Person(username="u", display_name="d", institution_id="mx-sndif", country="MX",
                    role="caseworker")
    return Visitor(language, person)


def test_the_form_makes_the_api_body_with_the_time_in_the_persons_zone() -> None:
    body = AlertCreate.model_validate(alert_from_form(FormData(FILLED), visitor()))
    assert body.target_countries == ["HN", "GT"]
    assert body.public.child.given_names == "Ficticio"
    assert body.public.child.date_of_birth is None
    assert body.public.last_seen.at == datetime.fromisoformat("2026-11-20T23:00:00-06:00")


def test_every_member_country_is_all() -> None:
    form = FormData([(k, v) for k, v in FILLED if k != "scope"] + [("scope", "all")])
    assert alert_from_form(form, visitor())["target_countries"] == ["ALL"]


@pytest.mark.parametrize(("language", "expected"), [
    ("en", "Choose at least one country, or all members."),
    ("es", "Elija al menos un país, o todos los miembros."),
])
def test_errors_are_by_field_and_never_repeat_the_value(language: str, expected: str) -> None:
    form = FormData([("public.child.given_names", "Ficticio"),
                     ("public.child.estimated_age", "40"),
                     ("public.last_seen.at", "not a time")])
    with pytest.raises(ValidationError) as invalid:
        AlertCreate.model_validate(alert_from_form(form, visitor(language)))
    errors = field_errors(visitor(language), invalid.value)
    assert errors["target_countries"] == expected
    assert {"public.child.family_names", "public.child.estimated_age", "public.last_seen.at",
            "category", "details.issuing_focal_point.name"} <= errors.keys()
    assert "public.child.given_names" not in errors
    assert not any("Ficticio" in m or "40" in m or "not a time" in m for m in errors.values())
