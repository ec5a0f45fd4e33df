"""The registry's JetStream side: take signed audit events from every gateway, in batches.

Each event is verified (docs/protocol.md §10.2); those that pass are appended to the log,
those that fail go to the audit quarantine with their reason, both in one transaction,
acknowledged after it commits. If the database fails, the batch is redelivered and event
ids (and, for the quarantine, the hash of the bytes) drop the copies. An event whose
institution cannot be looked up because the directory is down is redelivered later.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from dataclasses import dataclass, field

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from sqlalchemy import Engine

from services.registry.directory import Directory, DirectoryUnavailable
from services.registry.models import AuditQuarantine
from services.registry.service import RegistryService
from shared.audit_events import (
    AuditEvent,
    AuditRejected,
    KeyRecord,
    check_time,
    claimed_id,
    claimed_uuid,
    parse_event,
    verify_signature,
)
from shared.db import session_scope
from shared.envelope import EnvelopeError, unverified_parts
from shared.logging import get_logger
from shared.messaging import fetch_batches
from shared.vocabulary import AuditEventType

AUDIT_CONSUMER = "registry-audit"
BATCH_SIZE = 500
DIRECTORY_RETRY_SECONDS = 15
KID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")

log = get_logger(__name__)


def subject_country(subject: str) -> str | None:
    """`MX` for enlace.audit.MX: the country whose gateway carried the event."""
    parts = subject.split(".")
    if len(parts) == 3 and re.fullmatch(r"[A-Z]{2}", parts[2]):
        return parts[2]
    return None


@dataclass
class Lookups:
    """The directory's answers within one batch: each institution is asked about once."""

    directory: Directory
    keys: dict[str, list[KeyRecord]] = field(default_factory=dict)

    def signing_keys(self, institution_id: str) -> list[KeyRecord]:
        if institution_id not in self.keys:
            self.keys[institution_id] = self.directory.signing_key_records(institution_id)
        return self.keys[institution_id]


@dataclass(frozen=True)
class Verified:
    event: AuditEvent
    jws: str
    country: str


def verified_event(data: bytes, subject: str, lookups: Lookups) -> Verified:
    """The event, its JWS and country; else AuditRejected (to quarantine) or
    DirectoryUnavailable (retry later). Cheap checks first; the signature last, with a key
    of the institution the event is about."""
    country = subject_country(subject)
    if country is None:
        raise AuditRejected("wrong_country", "the subject names no country")
    _, event = parse_event(data)
    check_time(event)
    home = lookups.directory.country_of(event.institution_id)
    if not home:
        raise AuditRejected("unknown_institution", "the institution is not in the directory")
    if home != country:
        raise AuditRejected("wrong_country", "the institution is not of the subject's country")
    token = data.decode()
    verify_signature(token, lookups.signing_keys(event.institution_id), event.occurred_at)
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


class AuditIngest:
    def __init__(self, engine: Engine, directory: Directory) -> None:
        self.engine = engine
        self.directory = directory

    async def run(self, subscription: JetStreamContext.PullSubscription,
                  stop: asyncio.Event) -> None:
        await fetch_batches(subscription, self.handle_batch, BATCH_SIZE, stop)

    async def handle_batch(self, messages: list[Msg]) -> None:
        checked = await asyncio.to_thread(self._check, messages)
        valid = [(msg, result) for msg, result in checked if isinstance(result, Verified)]
        refused = [(msg, result) for msg, result in checked if isinstance(result, AuditRejected)]
        later = [msg for msg, result in checked if result is None]
        try:
            stored, quarantined = await asyncio.to_thread(
                self._store, [r for _, r in valid],
                [quarantine_row(m.data, m.subject, r.code) for m, r in refused])
        except Exception:
            log.exception("audit_batch_failed", size=len(valid) + len(refused))
            for msg, _ in [*valid, *refused]:
                await msg.nak(delay=2)
            stored = quarantined = 0
        else:
            for msg, _ in [*valid, *refused]:
                await msg.ack()
        for msg in later:
            await msg.nak(delay=DIRECTORY_RETRY_SECONDS)
        for msg, rejection in refused:
            log.warning("audit_event_quarantined", reason=rejection.code,
                        country=subject_country(msg.subject), size=len(msg.data))
        if checked:
            log.info("audit_events", received=len(checked), stored=stored,
                     quarantined=quarantined, retried=len(later))

    def _check(self, messages: list[Msg]
               ) -> list[tuple[Msg, Verified | AuditRejected | None]]:
        lookups = Lookups(self.directory)
        results: list[tuple[Msg, Verified | AuditRejected | None]] = []
        for msg in messages:
            try:
                results.append((msg, verified_event(msg.data, msg.subject, lookups)))
            except AuditRejected as rejection:
                results.append((msg, rejection))
            except DirectoryUnavailable:
                results.append((msg, None))
            except Exception:
                # Whatever else fails must not leave the event retried without end.
                log.exception("audit_event_unverifiable", size=len(msg.data))
                results.append((msg, AuditRejected("unverifiable", "verification failed")))
        return results

    def _store(self, events: list[Verified], refused: list[AuditQuarantine]
               ) -> tuple[int, int]:
        stored = 0
        with session_scope(self.engine) as session:
            registry = RegistryService(session)
            for country in dict.fromkeys(v.country for v in events):
                stored += registry.record_audit_events(
                    [(v.event, v.jws) for v in events if v.country == country],
                    f"gateway:{country}")
            quarantined = registry.repo.quarantine_audit_events(refused)
        return stored, quarantined
