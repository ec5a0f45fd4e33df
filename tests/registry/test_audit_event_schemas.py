"""The closed audit event schemas (shared/protocol/audit_events.py): what the gateway builds and the
registry verifies with, checked against the vocabularies they repeat."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.protocol.audit_events import (
    DETAIL_SCHEMAS,
    GATEWAY_EVENT_TYPES,
    AuditEvent,
    ReasonCode,
    claimed_id,
    claimed_message_type,
    claimed_uuid,
    claimed_version,
    reason_code,
)
from shared.protocol.vocabulary import AuditEventType


def test_a_gateway_asserts_every_type_but_the_registrys():
    assert {t for t in AuditEventType if t not in GATEWAY_EVENT_TYPES} == {
        t for t in AuditEventType if t.value.startswith(("agreement-", "consent-"))
        or t == AuditEventType.policy_mismatch}
    assert set(DETAIL_SCHEMAS) == GATEWAY_EVENT_TYPES


def event(**fields: object) -> dict[str, object]:
    return {"event_id": str(uuid.uuid4()), "event_type": "quarantined",
            "occurred_at": datetime.now(UTC), "institution_id": "mx-sndif",
            "detail": {"reason": "bad_signature"}, **fields}


@pytest.mark.parametrize("fields", [
    {"detail": {"reason": "María López"}},
    {"detail": {"reason": "bad_signature", "note": "x"}},
    {"counterpart_id": "María López"},
    {"message_id": "MARIA-LOPEZ"},
    {"message_type": "carta"},
    {"case_reference": "María López"},
    {"event_id": str(uuid.uuid4()).upper()},
    {"occurred_at": "2026-12-01T10:00:00"},
    {"surname": "López"},
    {"event_type": "consent-recorded", "detail": {}},
])
def test_no_free_text_gets_in(fields: dict[str, object]):
    with pytest.raises(ValidationError):
        AuditEvent.model_validate(event(**fields))


def test_claimed_values_are_kept_only_when_they_fit():
    some = str(uuid.uuid4())
    assert (claimed_uuid(some), claimed_uuid("María"), claimed_uuid(3)) == (some, None, None)
    assert (claimed_id("hn-senaf"), claimed_id("María López"), claimed_id("x" * 65)) == (
        "hn-senaf", None, None)
    assert (claimed_message_type("referral"), claimed_message_type("carta"),
            claimed_message_type(["referral"])) == ("referral", None, None)
    assert (reason_code("unknown_key"), reason_code("María"), reason_code({"a": 1})) == (
        "unknown_key", "other", "other")
    assert (claimed_version(3), claimed_version(2**63), claimed_version(True)) == (3, None, None)
    assert ReasonCode.other in set(ReasonCode)


def test_every_reason_a_gateway_quarantines_for_is_an_audit_reason_code():
    root = Path(__file__).resolve().parents[2]
    sources = [*sorted((root / "services" / "exchange").rglob("*.py")),
               root / "shared" / "protocol" / "envelope.py", root / "shared" / "kit" / "signed.py"]
    raised = {code for path in sources for code in re.findall(
        r'\b(?:Rejected|EnvelopeError|SignatureInvalid)\(\s*"([a-z_]+)"', path.read_text())}
    assert {"malformed", "revoked_key", "unsupported_typ"} <= raised  # the scan finds them
    assert raised - set(ReasonCode) == set()
