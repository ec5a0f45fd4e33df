"""Missing-child alert request and response bodies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.exchange.schema_parts import CountryCode, ShortText, Strict
from shared.kit.pagination import Page
from shared.protocol.vocabulary import AlertCategory


class AlertChild(Strict):
    given_names: str = ShortText
    family_names: str = ShortText
    sex: Literal["female", "male", "other", "unknown"]
    date_of_birth: date | None = None
    estimated_age: int | None = Field(default=None, ge=0, le=17)
    description: str | None = Field(default=None, max_length=2000)
    photo_ref: str | None = Field(default=None, max_length=300,
                                  description="Hash or reference of the photo, not the photo")


class LastSeen(Strict):
    at: datetime
    country: str = CountryCode
    area: str | None = Field(default=None, max_length=200)
    locality: str | None = Field(default=None, max_length=200)


class FocalPointContact(Strict):
    name: str = ShortText
    phone: str | None = Field(default=None, max_length=40)
    email: str | None = Field(default=None, max_length=200)


class AlertPublic(Strict):
    """What every target country's focal points see."""

    child: AlertChild
    last_seen: LastSeen


class AlertDetails(Strict):
    """Sensitive details, for the recipient institutions only."""

    circumstances: str | None = Field(default=None, max_length=4000)
    people_and_vehicles: str | None = Field(default=None, max_length=2000)
    issuing_focal_point: FocalPointContact


class AlertCreate(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "category": "missing-in-need-of-protection", "urgency": "immediate",
        "public": {
            "child": {"given_names": "Sofía", "family_names": "Ejemplo Ficticio",
                      "sex": "female", "estimated_age": 9,
                      "description": "Short black hair, red sweater, blue backpack.",
                      "photo_ref": "sha256:" + "3a1b" + "0" * 60},
            "last_seen": {"at": "2026-11-20T18:00:00-06:00", "country": "MX",
                          "area": "Chiapas", "locality": "Tapachula, bus terminal"}},
        "details": {
            "circumstances": "Left the shelter with an unknown adult.",
            "people_and_vehicles": "White van, adult man about 40.",
            "issuing_focal_point": {"name": "Mesa de alertas SNDIF", "phone": "+52 55 5550 0100",
                                    "email": "alertas.sndif@example.org"}},
        "target_countries": ["GT", "HN", "SV"]}]})

    category: AlertCategory
    urgency: Literal["urgent", "immediate"]
    public: AlertPublic
    details: AlertDetails
    target_countries: list[str] = Field(
        min_length=1, description='ISO codes, or ["ALL"] for every CRM member country')


class AlertChange(Strict):
    """update (new public/details), located (where, measures) or cancel (reason)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"action": "located", "where": "Ciudad Hidalgo, Chiapas",
         "measures": "In the care of DIF Chiapas; family informed."},
        {"action": "cancel", "reason": "Issued in error: the child was with her family."}]})

    action: Literal["update", "located", "cancel"]
    public: AlertPublic | None = None
    details: AlertDetails | None = None
    where: str | None = Field(default=None, max_length=500)
    measures: str | None = Field(default=None, max_length=2000)
    reason: str | None = Field(default=None, max_length=2000)


class Acknowledgement(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"by": "Mesa nacional de alertas, SENAF"}]})

    by: str = Field(min_length=1, max_length=200, description="The focal point or desk")


class AlertTargetPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    country: str
    recipient_id: str | None
    received_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    escalated_at: datetime | None
    closed_received_at: datetime | None = Field(
        default=None, description="When this desk confirmed the notice that closed the alert "
        "(located or cancelled); until then the alert may still be active there.")


class AlertView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    direction: Literal["outbound", "inbound"]
    issuer_id: str
    recipient_id: str | None
    status: str
    version: int
    category: str
    urgency: str
    public: dict[str, Any]
    details: dict[str, Any]
    target_countries: list[str]
    located: dict[str, Any] | None
    reason: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    created_at: datetime
    updated_at: datetime
    targets: list[AlertTargetPublic] = Field(default_factory=list)


class AlertPage(Page[AlertView]):
    """Alerts, newest first."""
