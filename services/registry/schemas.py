"""Registry request and response bodies."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from services.registry.models import AgreementBase, ConsentBase
from shared.kit.pagination import Page
from shared.protocol.policy import (
    AgreementStatus,
    CaseReference,
    Decision,
    DecisionRequest,
    DenyReason,
    IdStr,
    LegalBasis,
)
from shared.protocol.vocabulary import DataCategory, MessageType, Purpose

__all__ = ["AgreementStatus", "Decision", "DecisionRequest", "DenyReason", "LegalBasis"]

PartyStr = Field(min_length=2, max_length=64, pattern=r"^([A-Z]{2}|[A-Za-z0-9][A-Za-z0-9_-]*)$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _unique(values: list[Any], what: str) -> list[Any]:
    if len(set(values)) != len(values):
        raise ValueError(f"{what} lists a value twice")
    return values


# Agreements ----------------------------------------------------------------------------


class AgreementTermsIn(Strict):
    """What the parties agree to; every version carries all of it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "title": "Convenio de intercambio de información DIF Chiapas y SENAF",
        "parties": ["mx-dif-chiapas", "hn-senaf"], "message_types": ["referral", "receipt"],
        "purposes": ["reception-and-care", "family-tracing"],
        "data_categories": ["identity", "location", "family", "protection", "child-views"],
        "legal_bases": ["consent", "best-interests-determination"], "retention_days": 1825,
        "valid_from": "2027-01-01T00:00:00Z", "valid_to": "2029-12-31T23:59:59Z"}]})

    title: str = Field(min_length=1, max_length=300)
    parties: list[str] = Field(min_length=2, max_length=20, description=(
        "Institution ids, or ISO 3166-1 alpha-2 codes in capitals for a whole country."))
    message_types: list[MessageType] = Field(min_length=1)
    purposes: list[Purpose] = Field(min_length=1)
    data_categories: list[DataCategory] = Field(min_length=1)
    legal_bases: list[LegalBasis] = Field(min_length=1)
    retention_days: int = Field(ge=1, le=36500)
    valid_from: AwareDatetime
    valid_to: AwareDatetime

    @field_validator("parties")
    @classmethod
    def _parties(cls, parties: list[str]) -> list[str]:
        for party in parties:
            PartyModel(party=party)
        return parties

    @field_validator("message_types", "purposes", "data_categories", "legal_bases")
    @classmethod
    def _no_repeats(cls, values: list[Any]) -> list[Any]:
        return _unique(values, "the list")


class PartyModel(BaseModel):
    party: str = PartyStr


class AgreementCreate(AgreementTermsIn):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "agr-mx-dif-chiapas-hn-senaf-2027",
        "title": "Convenio de intercambio de información DIF Chiapas y SENAF",
        "parties": ["mx-dif-chiapas", "hn-senaf"], "message_types": ["referral", "receipt"],
        "purposes": ["reception-and-care", "family-tracing"],
        "data_categories": ["identity", "location", "family", "protection", "child-views"],
        "legal_bases": ["consent", "best-interests-determination"], "retention_days": 1825,
        "valid_from": "2027-01-01T00:00:00Z", "valid_to": "2029-12-31T23:59:59Z"}]})

    id: str = IdStr


class SignatureIn(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "jws": "eyJhbGciOiJFZERTQSIsImtpZCI6Im14LXNuZGlmLTEifQ.eyJhZ3JlZW1lbnRfaWQiOiJhZ3ItMSJ9"
               ".c2lnbmF0dXJlLW9mLXRoZS1jYW5vbmljYWwtdGV4dA"}]})

    jws: str = Field(min_length=1, max_length=20000)


class StatusChange(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"status": "awaiting-signatures"},
        {"status": "suspended", "reason": "The parties are reviewing the data categories."}]})

    status: Literal["awaiting-signatures", "active", "suspended", "terminated"]
    reason: str | None = Field(default=None, max_length=500,
                               description="Why, for the record; never personal data.")


class SignaturePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    party: str
    signer_id: str
    kid: str
    jws: str
    signed_at: datetime


# A version with its signatures; `status` as in force now (`expired` after valid_to). No
# docstring: it would become the schema's description in the OpenAPI.
class AgreementPublic(AgreementBase):
    created_at: datetime
    updated_at: datetime
    signatures: list[SignaturePublic] = Field(default_factory=list)
    unsigned_parties: list[str] = Field(default_factory=list)


class AgreementPage(Page[AgreementPublic]):
    """Agreements (by id), or the versions of one (oldest first)."""


class AgreementContent(BaseModel):
    """The canonical content of a version: what each party signs."""

    agreement_id: str
    version: int
    content: dict[str, Any]
    canonical: str = Field(description="The exact UTF-8 text inside the signature payload.")


# Consent and other legal bases ---------------------------------------------------------


class GivenBy(StrEnum):
    child = "child"
    parent = "parent"
    guardian = "guardian"
    legal_representative = "legal-representative"
    authority = "authority"


class ChildViews(StrEnum):
    """A coded summary: the child's own words never reach the registry."""

    agrees = "agrees"
    partly_agrees = "partly-agrees"
    disagrees = "disagrees"
    no_view_expressed = "no-view-expressed"


class NotHeardReason(StrEnum):
    too_young = "too-young"
    unable = "unable"
    declined = "declined"
    not_reachable = "not-reachable"
    urgent = "urgent"


class WithdrawalReason(StrEnum):
    changed_mind = "changed-mind"
    case_closed = "case-closed"
    basis_ended = "basis-ended"
    recorded_in_error = "recorded-in-error"
    other = "other"


class ConsentCreate(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "case_reference": "MX-DIF-2026-000123", "basis": "consent",
        "given_by": "legal-representative", "child_heard": True, "child_views": "agrees",
        "recipients": ["hn-senaf"], "purposes": ["reception-and-care", "family-tracing"],
        "data_categories": ["identity", "location", "family", "health", "protection",
                            "child-views", "documents"],
        "valid_from": "2026-11-18T00:00:00-06:00", "valid_to": "2027-11-18T00:00:00-06:00"}]})

    case_reference: str = CaseReference
    basis: LegalBasis
    given_by: GivenBy
    basis_reference: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]*$",
        description="Number of the determination or order (never a name).")
    child_heard: bool
    child_views: ChildViews | None = None
    not_heard_reason: NotHeardReason | None = None
    recipients: list[str] = Field(min_length=1, max_length=50)
    purposes: list[Purpose] = Field(min_length=1)
    data_categories: list[DataCategory] = Field(min_length=1)
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None

    @field_validator("recipients")
    @classmethod
    def _recipients(cls, recipients: list[str]) -> list[str]:
        for recipient in recipients:
            PartyModel(party=recipient)
        return _unique(recipients, "recipients")

    @model_validator(mode="after")
    def _coherent(self) -> ConsentCreate:
        if self.basis != LegalBasis.consent and self.given_by != GivenBy.authority:
            raise ValueError("a legal basis other than consent is given by an authority")
        if self.child_heard and self.child_views is None:
            raise ValueError("give child_views when the child was heard")
        if not self.child_heard and self.not_heard_reason is None:
            raise ValueError("give not_heard_reason when the child was not heard")
        if self.child_heard and self.not_heard_reason is not None:
            raise ValueError("not_heard_reason is only for a child who was not heard")
        return self


class Withdrawal(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"withdrawn_by": "legal-representative", "reason": "changed-mind"}]})

    withdrawn_by: GivenBy
    reason: WithdrawalReason


class ConsentPublic(ConsentBase):
    pass


class ConsentPage(Page[ConsentPublic]):
    """Consents and legal bases, oldest recorded first."""


# Policy snapshot -----------------------------------------------------------------------


class SnapshotPublic(BaseModel):
    jws: str
    expires_at: int


# Audit ---------------------------------------------------------------------------------


class AuditEventFields(BaseModel):
    event_id: str
    event_type: str
    occurred_at: AwareDatetime
    institution_id: str
    counterpart_id: str | None = None
    message_id: str | None = None
    message_type: str | None = None
    case_reference: str | None = None
    agreement_id: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class AuditEntryPublic(AuditEventFields):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    leaf_index: int
    leaf_hash: str = Field(description="SHA-256(0x00 || canonical entry), lowercase hex")
    source: str
    recorded_at: datetime
    jws: str | None = Field(description="the signed event (JWS compact) as its asserter "
                            "signed it; null only on entries made before events were signed")

    @field_validator("leaf_hash", mode="before")
    @classmethod
    def _hex(cls, value: Any) -> Any:
        return value.hex() if isinstance(value, bytes) else value


class AuditPage(Page[AuditEntryPublic]):
    """Audit entries in log order."""


class AuditQuarantinePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    received_at: datetime
    reason: str = Field(description="stable code, docs/protocol.md §10.3")
    subject_country: str | None
    sha256: str = Field(description="SHA-256 of the message as received, lowercase hex")
    size: int = Field(description="bytes received")
    event_id: str | None = Field(description="the claimed event id, if a UUID")
    event_type: str | None = Field(description="the claimed event type, if in the vocabulary")
    institution_id: str | None = Field(description="the claimed institution, if an id")
    kid: str | None = Field(description="the claimed key id, if a thumbprint")


class AuditQuarantinePage(Page[AuditQuarantinePublic]):
    """Refused audit events, oldest first."""


class CheckpointPublic(BaseModel):
    tree_size: int
    root_hash: str
    issued_at: datetime
    jws: str


class InclusionProof(BaseModel):
    leaf_index: int
    tree_size: int
    leaf_hash: str
    audit_path: list[str]


class ConsistencyProof(BaseModel):
    first: int
    second: int
    consistency_path: list[str]


class SubtreePublic(BaseModel):
    start: int
    end: int
    hash: str
    left_hash: str | None = None
    right_hash: str | None = None
