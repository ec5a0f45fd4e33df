"""Signed audit events: what a gateway may assert about its institutions, in one closed shape.

The gateway builds every event with `AuditEvent` and signs it with the key of the institution
the event is about; the registry verifies the same model, so the two cannot drift apart.
Every value is an id, a UUID, a code from a fixed vocabulary or a small number: there is no
member where free text (a child's name) could land. docs/protocol.md §10.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from joserfc.jwk import OKPKey
from joserfc.jws import CompactSignature
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.protocol.auth import Role
from shared.protocol.envelope import (
    EnvelopeError,
    check_signature,
    sign,
    unverified_parts,
    verify,
)
from shared.protocol.vocabulary import AlertCategory, AuditEventType, DataCategory, MessageType

AUDIT_EVENT_MEDIA_TYPE = "enlace-audit-event+jws"
EVENT_VERSION: Literal["1"] = "1"
# A gateway's clock may run a little ahead; an event older than the audit stream's max age
# (30 days) cannot be a delivery of the stream, so it is a replay or a backdating.
MAX_CLOCK_SKEW = timedelta(seconds=300)
MAX_EVENT_AGE = timedelta(days=30)

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
COUNTRY_PATTERN = r"^[A-Z]{2}$"

Uuid = Annotated[str, Field(pattern=UUID_PATTERN)]
InstitutionId = Annotated[str, Field(min_length=1, max_length=64, pattern=ID_PATTERN)]
Country = Annotated[str, Field(pattern=COUNTRY_PATTERN)]
CaseRef = Annotated[str, Field(min_length=1, max_length=100,
                               pattern=r"^[A-Za-z0-9][A-Za-z0-9_./-]*$")]
Categories = Annotated[list[DataCategory], Field(max_length=len(DataCategory))]


class ReasonCode(StrEnum):
    """Quarantine, rejection and deny reasons (docs/protocol.md §8.1, §8.2); `other` for any
    code this version does not know, so a peer's text never reaches the log."""

    malformed = "malformed"
    unknown_sender = "unknown_sender"
    unsupported_algorithm = "unsupported_algorithm"
    unknown_key = "unknown_key"
    revoked_key = "revoked_key"
    unsupported_key = "unsupported_key"
    bad_signature = "bad_signature"
    unsupported_version = "unsupported_version"
    unsupported_typ = "unsupported_typ"
    invalid_lifetime = "invalid_lifetime"
    expired = "expired"
    issued_in_future = "issued_in_future"
    not_for_this_gateway = "not_for_this_gateway"
    unsupported_type = "unsupported_type"
    replayed_message_id = "replayed_message_id"
    invalid_routing_fields = "invalid_routing_fields"
    policy_denied = "policy_denied"
    agreement_mismatch = "agreement_mismatch"
    category_not_allowed = "category_not_allowed"
    undecryptable = "undecryptable"
    receipt_mismatch = "receipt_mismatch"
    unknown_referral = "unknown_referral"
    action_not_allowed = "action_not_allowed"
    unknown_alert = "unknown_alert"
    not_the_issuer = "not_the_issuer"
    no_agreement = "no_agreement"
    agreement_not_active = "agreement_not_active"
    agreement_out_of_validity = "agreement_out_of_validity"
    message_type_not_allowed = "message_type_not_allowed"
    purpose_not_allowed = "purpose_not_allowed"
    no_case_reference = "no_case_reference"
    no_consent = "no_consent"
    consent_withdrawn = "consent_withdrawn"
    consent_out_of_validity = "consent_out_of_validity"
    legal_basis_not_accepted = "legal_basis_not_accepted"
    recipient_not_covered = "recipient_not_covered"
    purpose_not_covered = "purpose_not_covered"
    categories_not_covered = "categories_not_covered"
    processing_failed = "processing_failed"
    service_unavailable = "service_unavailable"
    other = "other"


# Detail, one closed schema per event type ------------------------------------------------


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NoDetail(Closed):
    pass


class SentDetail(Closed):
    categories: Categories
    withheld_categories: Categories


class ReceivedDetail(Closed):
    categories: Categories


class DeniedDetail(Closed):
    reasons: Annotated[list[ReasonCode], Field(max_length=20)]


class ReceiptDetail(Closed):
    receipt_id: Uuid | None


class RecordReadDetail(Closed):
    role: Role


class ActionDetail(Closed):
    referral_id: Uuid | None
    by: InstitutionId


class ReasonDetail(Closed):
    reason: ReasonCode


class AlertIssuedDetail(Closed):
    countries: Annotated[list[Country], Field(max_length=30)]
    category: AlertCategory


class AlertVersionDetail(Closed):
    version: Annotated[int, Field(ge=0, le=1_000_000)] | None = None


class AlertEscalatedDetail(Closed):
    country: Country
    no_recipient: bool


class PersonDetail(Closed):
    """A person of the console (the username never: it names a member of staff)."""

    person_id: Uuid
    role: Role


class SignInFailedDetail(PersonDetail):
    reason: Literal["bad_credentials", "locked"]


class PersonUnlockedDetail(PersonDetail):
    by_person_id: Uuid  # the country administrator who unlocked them


DETAIL_SCHEMAS: dict[AuditEventType, type[Closed]] = {
    AuditEventType.sent: SentDetail,
    AuditEventType.denied: DeniedDetail,
    AuditEventType.received: ReceivedDetail,
    AuditEventType.receipt: ReceiptDetail,
    AuditEventType.record_read: RecordReadDetail,
    **{event: ActionDetail for event in (
        AuditEventType.accepted, AuditEventType.rejected, AuditEventType.started,
        AuditEventType.closed, AuditEventType.withdrawn, AuditEventType.follow_up)},
    AuditEventType.quarantined: ReasonDetail,
    AuditEventType.refused: ReasonDetail,
    AuditEventType.alert_issued: AlertIssuedDetail,
    AuditEventType.alert_received: NoDetail,
    AuditEventType.alert_acknowledged: NoDetail,
    AuditEventType.alert_updated: AlertVersionDetail,
    AuditEventType.alert_located: AlertVersionDetail,
    AuditEventType.alert_cancelled: AlertVersionDetail,
    AuditEventType.alert_escalated: AlertEscalatedDetail,
    AuditEventType.sign_in: PersonDetail,
    AuditEventType.sign_in_failed: SignInFailedDetail,
    AuditEventType.password_changed: PersonDetail,
    AuditEventType.person_unlocked: PersonUnlockedDetail,
}
GATEWAY_EVENT_TYPES = frozenset(DETAIL_SCHEMAS)


class AuditEvent(Closed):
    """The signed payload of an audit event (its JWS has `typ` enlace-audit-event+jws)."""

    v: Literal["1"] = EVENT_VERSION
    event_id: Uuid
    event_type: AuditEventType
    occurred_at: AwareDatetime
    institution_id: InstitutionId
    counterpart_id: InstitutionId | None = None
    message_id: Uuid | None = None
    message_type: MessageType | None = None
    case_reference: CaseRef | None = None
    agreement_id: InstitutionId | None = None
    detail: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _closed_detail(self) -> AuditEvent:
        schema = DETAIL_SCHEMAS.get(self.event_type)
        if schema is None:
            raise ValueError("a gateway does not assert this event type")
        schema.model_validate(self.detail)
        return self

    def fields(self) -> dict[str, Any]:
        """The members as the log stores them (occurred_at a datetime, the rest JSON)."""
        values = self.model_dump(mode="json", exclude={"v"})
        values["occurred_at"] = self.occurred_at
        return values


def sign_event(event: AuditEvent, key: OKPKey) -> str:
    return sign(event.model_dump(mode="json"), key, AUDIT_EVENT_MEDIA_TYPE)


# Values a peer supplied: kept only when they fit, never copied as text --------------------


def claimed_uuid(value: Any) -> str | None:
    return value if isinstance(value, str) and re.fullmatch(UUID_PATTERN, value) else None


def claimed_id(value: Any) -> str | None:
    ok = isinstance(value, str) and len(value) <= 64 and re.fullmatch(ID_PATTERN, value)
    return value if ok else None


def claimed_message_type(value: Any) -> str | None:
    return value if isinstance(value, str) and value in set(MessageType) else None


def reason_code(value: Any) -> str:
    return value if isinstance(value, str) and value in set(ReasonCode) else \
        ReasonCode.other.value


def claimed_version(value: Any) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 1_000_000
    return value if ok else None


# Verification -----------------------------------------------------------------------------


class AuditRejected(Exception):
    """Why an audit event is not taken into the log; `code` is stable (docs/protocol.md §10)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class KeyRecord(BaseModel):
    """A signing key as the directory lists it, with its validity."""

    jwk: dict[str, Any]
    valid_from: AwareDatetime
    valid_to: AwareDatetime | None = None
    revoked_at: AwareDatetime | None = None


def parse_event(token: bytes | str) -> tuple[dict[str, Any], AuditEvent]:
    """The header and the event, unverified: shape, type and detail checks."""
    try:
        text = token.decode() if isinstance(token, bytes) else token
        header, payload = unverified_parts(text)
    except (UnicodeDecodeError, EnvelopeError) as exc:
        if isinstance(exc, EnvelopeError) and _is_json_object(token):
            raise AuditRejected("unsigned", "a plain JSON event, not a JWS") from exc
        raise AuditRejected("malformed", "not a JWS compact serialization of JSON") from exc
    if header.get("typ") != AUDIT_EVENT_MEDIA_TYPE:
        raise AuditRejected("malformed", "the JWS is not an audit event")
    event_type = payload.get("event_type")
    if not isinstance(event_type, str) or event_type not in set(AuditEventType):
        raise AuditRejected("unknown_event_type", "the event type is not in the vocabulary")
    if AuditEventType(event_type) not in GATEWAY_EVENT_TYPES:
        raise AuditRejected("event_type_not_allowed", "only the registry makes this event type")
    try:
        DETAIL_SCHEMAS[AuditEventType(event_type)].model_validate(payload.get("detail", {}))
    except ValidationError as exc:
        raise AuditRejected("invalid_detail", "detail does not follow its event type's "
                            "schema") from exc
    try:
        return header, AuditEvent.model_validate(payload)
    except ValidationError as exc:
        raise AuditRejected("malformed", "the event's members are not valid") from exc


def check_time(event: AuditEvent, now: datetime | None = None) -> None:
    moment = now or datetime.now(UTC)
    if event.occurred_at > moment + MAX_CLOCK_SKEW:
        raise AuditRejected("occurred_in_future", "occurred_at is ahead of the clock")
    if event.occurred_at < moment - MAX_EVENT_AGE:
        raise AuditRejected("too_old", "occurred_at is older than the audit stream keeps")


def verify_signature(token: str, keys: list[KeyRecord], occurred_at: datetime,
                     now: datetime | None = None, max_payload_bytes: int | None = None
                     ) -> dict[str, Any]:
    """The payload, once the signature verifies with a key valid at `occurred_at` and not
    revoked (at any time up to now: a revoked key may be in an attacker's hands).
    `max_payload_bytes`: for a signed document larger than an event (a statistics report)."""
    try:
        header, payload = verify(token, [k.jwk for k in keys], max_payload_bytes)
    except EnvelopeError as exc:
        raise _rejected(exc) from exc
    _check_key(header, keys, occurred_at, now)
    return payload


def verify_extracted(compact: CompactSignature, keys: list[KeyRecord], occurred_at: datetime,
                     now: datetime | None = None) -> None:
    """As `verify_signature`, for a JWS already extracted (its payload already read)."""
    try:
        check_signature(compact, [k.jwk for k in keys])
    except EnvelopeError as exc:
        raise _rejected(exc) from exc
    _check_key(compact.protected, keys, occurred_at, now)


def _rejected(exc: EnvelopeError) -> AuditRejected:
    code = exc.code if exc.code in ("unsupported_algorithm", "bad_signature") else \
        "unknown_key"
    return AuditRejected(code, exc.detail)


def _check_key(header: dict[str, Any], keys: list[KeyRecord], occurred_at: datetime,
               now: datetime | None) -> None:
    moment = now or datetime.now(UTC)
    kid = header.get("kid")
    record = next(k for k in keys if k.jwk.get("kid") == kid)
    if record.revoked_at is not None and record.revoked_at <= moment:
        raise AuditRejected("revoked_key", "the signing key has been revoked")
    if occurred_at < record.valid_from or (record.valid_to is not None
                                           and occurred_at >= record.valid_to):
        raise AuditRejected("key_not_valid", "the signing key was not valid at occurred_at")


def _is_json_object(token: bytes | str) -> bool:
    try:
        return isinstance(json.loads(token), dict)
    except (ValueError, UnicodeDecodeError):
        return False
