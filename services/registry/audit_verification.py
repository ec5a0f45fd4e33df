"""Whether a gateway's audit event may enter the log (docs/protocol.md §10.2), and what the
quarantine keeps of one that may not."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from services.registry.directory import Directory
from services.registry.models import AuditQuarantine
from services.registry.signing_keys import BatchKeys
from shared.protocol.audit_events import (
    AuditEvent,
    AuditRejected,
    check_time,
    claimed_id,
    claimed_uuid,
    parse_event,
    verify_signature,
)
from shared.protocol.envelope import EnvelopeError, unverified_parts
from shared.protocol.vocabulary import AuditEventType

KID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")


def subject_country(subject: str) -> str | None:
    """`MX` for enlace.audit.MX: the country whose gateway carried the event."""
    parts = subject.split(".")
    if len(parts) == 3 and re.fullmatch(r"[A-Z]{2}", parts[2]):
        return parts[2]
    return None


@dataclass(frozen=True)
class Verified:
    event: AuditEvent
    jws: str
    country: str


def verified_event(data: bytes, subject: str, directory: Directory, keys: BatchKeys
                   ) -> Verified:
    """The event, its JWS and country; else AuditRejected (to quarantine) or
    DirectoryUnavailable (retry later). Cheap checks first; the signature last, with a key
    of the institution the event is about."""
    country = subject_country(subject)
    if country is None:
        raise AuditRejected("wrong_country", "the subject names no country")
    header, event = parse_event(data)
    check_time(event)
    home = directory.country_of(event.institution_id)
    if not home:
        raise AuditRejected("unknown_institution", "the institution is not in the directory")
    if home != country:
        raise AuditRejected("wrong_country", "the institution is not of the subject's country")
    token = data.decode()
    verify_signature(token, keys.of(event.institution_id, header.get("kid")), event.occurred_at)
    return Verified(event, token, country)


def quarantine_row(data: bytes, subject: str, reason: str) -> AuditQuarantine:
    """What can be told of a refused event without keeping its content: only claimed
    values that fit their strict patterns."""
    claimed: dict[str, object] = {}
    kid = None
    try:
        header, claimed = unverified_parts(data.decode())
        kid = header.get("kid")
    except (EnvelopeError, UnicodeDecodeError):
        pass
    event_type = claimed.get("event_type")
    return AuditQuarantine(
        subject_country=subject_country(subject), reason=reason,
        sha256=hashlib.sha256(data).hexdigest(), size=len(data),
        event_id=claimed_uuid(claimed.get("event_id")),
        event_type=event_type if isinstance(event_type, str)
        and event_type in set(AuditEventType) else None,
        institution_id=claimed_id(claimed.get("institution_id")),
        kid=kid if isinstance(kid, str) and KID_PATTERN.match(kid) else None,
    )
