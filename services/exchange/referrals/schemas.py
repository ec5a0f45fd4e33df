"""Referral request and response bodies, and the referral record with its data categories."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.exchange.schema_parts import CountryCode, ShortText, Strict
from shared.kit.pagination import Page
from shared.protocol.vocabulary import DataCategory, Purpose


class IdentityDocument(Strict):
    type: str = Field(min_length=1, max_length=60, description="passport, birth certificate ...")
    number: str = Field(min_length=1, max_length=60)
    issuer: str | None = Field(default=None, max_length=100)


class ChildIdentity(Strict):
    given_names: str = ShortText
    family_names: str = ShortText
    other_names: list[str] = Field(default_factory=list, max_length=10)
    sex: Literal["female", "male", "other", "unknown"]
    date_of_birth: date | None = None
    estimated_age: int | None = Field(default=None, ge=0, le=17)
    age_is_estimated: bool = False
    place_of_birth: str | None = Field(default=None, max_length=200)
    nationalities: list[str] = Field(default_factory=list, max_length=5)
    habitual_residence: str | None = Field(default=None, max_length=200)
    languages: list[str] = Field(default_factory=list, max_length=10)
    ethnic_or_indigenous_people: str | None = Field(default=None, max_length=100)
    identity_documents: list[IdentityDocument] = Field(default_factory=list, max_length=10)

    @model_validator(mode="after")
    def _age_known(self) -> ChildIdentity:
        if self.date_of_birth is None and self.estimated_age is None:
            raise ValueError("give date_of_birth or estimated_age")
        if self.date_of_birth is not None and self.date_of_birth > date.today():
            raise ValueError("date_of_birth is in the future")
        if any(len(n) != 2 or not n.isupper() for n in self.nationalities):
            raise ValueError("nationalities are ISO 3166-1 alpha-2 codes")
        return self


class Accompaniment(Strict):
    status: Literal["unaccompanied", "separated", "accompanied"]
    with_whom: str | None = Field(default=None, max_length=200)
    since: date | None = None


class Detection(Strict):
    at: datetime
    country: str = CountryCode
    admin_area: str | None = Field(default=None, max_length=200)
    locality: str | None = Field(default=None, max_length=200)
    by_institution: str | None = Field(default=None, max_length=64)


class ProtectionNeeds(Strict):
    urgency: Literal["routine", "urgent", "immediate"]
    asylum_intent: bool = False
    trafficking_indicators: bool = False
    violence: bool = False
    other_risks: list[str] = Field(default_factory=list, max_length=20)
    notes: str | None = Field(default=None, max_length=2000)


class Health(Strict):
    disability: str | None = Field(default=None, max_length=500)
    conditions: str | None = Field(default=None, max_length=2000)
    pregnancy: bool | None = None


class ChildViews(Strict):
    heard: bool
    views: str | None = Field(default=None, max_length=4000)


class BestInterests(Strict):
    status: Literal["none", "bia-done", "bid-done"]
    by_institution: str | None = Field(default=None, max_length=64)
    on: date | None = None


class Reception(Strict):
    planned_arrival: datetime | None = None
    transport: str | None = Field(default=None, max_length=200)
    reception_place: str | None = Field(default=None, max_length=300)
    received_by: str | None = Field(default=None, max_length=200)


class FamilyContact(Strict):
    relationship: str = ShortText
    name: str | None = Field(default=None, max_length=200)
    whereabouts: str | None = Field(default=None, max_length=300)
    phone: str | None = Field(default=None, max_length=40)
    traced: bool = False


class Family(Strict):
    relatives: list[FamilyContact] = Field(default_factory=list, max_length=20)
    caregiver_before_migration: str | None = Field(default=None, max_length=200)
    wants_reunification_with: str | None = Field(default=None, max_length=200)


class RequestedService(StrEnum):
    reception = "reception"
    psychosocial_care = "psychosocial-care"
    legal_representation = "legal-representation"
    family_tracing = "family-tracing"
    reintegration_follow_up = "reintegration-follow-up"
    repatriation_coordination = "repatriation-coordination"


class AttachedDocument(Strict):
    """A document travels by its hash; the file itself goes through another channel."""

    type: str = Field(min_length=1, max_length=60)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    description: str | None = Field(default=None, max_length=300)


def section(category: DataCategory, **field: Any) -> Any:
    """A record section, tagged with the data category an agreement allows or not."""
    return Field(json_schema_extra={"x-data-category": category.value}, **field)


class ReferralRecord(Strict):
    """The registration record: the child is registered once, and the record travels."""

    child: ChildIdentity = section(DataCategory.identity)
    accompaniment: Accompaniment = section(DataCategory.protection)
    detection: Detection | None = section(DataCategory.location, default=None)
    family: Family | None = section(DataCategory.family, default=None)
    protection: ProtectionNeeds = section(DataCategory.protection)
    health: Health | None = section(DataCategory.health, default=None)
    child_views: ChildViews | None = section(DataCategory.child_views, default=None)
    best_interests: BestInterests | None = section(DataCategory.legal_status, default=None)
    reception: Reception | None = section(DataCategory.location, default=None)
    requested_services: list[RequestedService] = section(DataCategory.protection, min_length=1)
    documents: list[AttachedDocument] = section(DataCategory.documents,
                                                default_factory=list, max_length=20)


def _category(field: Any) -> DataCategory:
    extra = field.json_schema_extra
    assert isinstance(extra, dict)
    return DataCategory(str(extra["x-data-category"]))


SECTION_CATEGORY = {name: _category(f) for name, f in ReferralRecord.model_fields.items()}


def categories_of(record: dict[str, Any]) -> list[str]:
    present = {SECTION_CATEGORY[name].value for name, value in record.items() if value}
    return sorted(present)


def without_categories(record: dict[str, Any], withheld: list[str]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if v and SECTION_CATEGORY[k].value not in withheld}


# The example in /docs: every section filled in, the names obviously fictitious.
REFERRAL_EXAMPLE: dict[str, Any] = {
    "recipient_id": "hn-senaf",
    "case_reference": "MX-DIF-2026-000123",
    "purpose": "reception-and-care",
    "record": {
        "child": {
            "given_names": "Ana Lucía", "family_names": "Ejemplo Ficticio",
            "sex": "female", "date_of_birth": "2012-05-14", "place_of_birth": "San Pedro Sula",
            "nationalities": ["HN"], "habitual_residence": "San Pedro Sula, Cortés",
            "languages": ["es"],
            "identity_documents": [{"type": "birth certificate", "number": "0000-EJEMPLO-0001",
                                    "issuer": "RNP Honduras"}],
        },
        "accompaniment": {"status": "unaccompanied", "since": "2026-10-30"},
        "detection": {"at": "2026-11-18T09:30:00-06:00", "country": "MX",
                      "admin_area": "Chiapas", "locality": "Tapachula",
                      "by_institution": "mx-inm"},
        "family": {
            "relatives": [{"relationship": "grandmother", "name": "Rosa Ejemplo Ficticio",
                           "whereabouts": "San Pedro Sula", "phone": "+504 5550 0100",
                           "traced": True}],
            "caregiver_before_migration": "grandmother",
            "wants_reunification_with": "grandmother",
        },
        "protection": {"urgency": "urgent", "asylum_intent": False,
                       "trafficking_indicators": False, "violence": False,
                       "notes": "Returned by land; needs reception at arrival."},
        "health": {"conditions": "Asthma, uses an inhaler.", "pregnancy": False},
        "child_views": {"heard": True, "views": "Wants to live with her grandmother."},
        "best_interests": {"status": "bia-done", "by_institution": "mx-sndif",
                           "on": "2026-11-20"},
        "reception": {"planned_arrival": "2026-12-01T14:00:00-06:00", "transport": "bus",
                      "reception_place": "Centro de recepción (ejemplo), San Pedro Sula"},
        "requested_services": ["reception", "family-tracing", "psychosocial-care"],
        "documents": [{"type": "medical report", "sha256": "9f2c" + "0" * 60,
                       "description": "Medical check at the shelter"}],
    },
}


class ReferralCreate(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [REFERRAL_EXAMPLE]})

    recipient_id: str = Field(min_length=1, max_length=64)
    case_reference: str = Field(
        min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]*$",
        description="The sender's pseudonymous case reference: never a name or document number.",
    )
    purpose: Purpose
    record: ReferralRecord


class ReferralAccepted(BaseModel):
    id: str
    status: str


class ReceiptPublic(BaseModel):
    jws: str
    signed_by: str
    kid: str
    received_at: datetime
    message_digest: str


class ReferralSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    direction: Literal["outbound", "inbound"]
    status: str
    sender_id: str
    recipient_id: str
    case_reference: str
    purpose: str
    agreement_id: str
    categories: list[str]
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None


class HistoryItem(BaseModel):
    """One step of the referral's life, by this side or the other."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    action: str
    side: Literal["sender", "recipient"]
    actor_id: str
    at: datetime
    reason: str | None = None
    outcome: str | None = None
    note: str | None = None


class ReferralPublic(ReferralSummary):
    record: dict[str, Any]
    receipt: ReceiptPublic | None = None
    history: list[HistoryItem] = Field(default_factory=list)


class ActionRequest(Strict):
    """accept | reject (reason) | start | close (outcome) | withdraw (reason) | note (note)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"action": "accept"},
        {"action": "reject", "reason": "The child's family lives outside our area."},
        {"action": "close", "outcome": "Reunited with her grandmother on 3 December."},
        {"action": "note", "note": "Called the grandmother; visit on Monday."}]})

    action: Literal["accept", "reject", "start", "close", "withdraw", "note"]
    reason: str | None = Field(default=None, max_length=2000)
    outcome: str | None = Field(default=None, max_length=2000)
    note: str | None = Field(default=None, max_length=4000)


class ReferralPage(Page[ReferralSummary]):
    """Referrals, newest first."""
