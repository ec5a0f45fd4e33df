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
import json
import re
from dataclasses import dataclass, field

from joserfc.jwk import OKPKey
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from sqlalchemy import Engine

from services.registry.directory import Directory, DirectoryUnavailable
from services.registry.models import AuditQuarantine
from services.registry.service import RegistryService
from shared.kit.db import session_scope, utcnow
from shared.kit.jetstream import fetch_batches
from shared.kit.logging import get_logger
from shared.kit.loops import run_every
from shared.protocol.audit_events import (
    AuditEvent,
    AuditRejected,
    KeyRecord,
    check_time,
    claimed_id,
    claimed_uuid,
    parse_event,
    verify_signature,
)
from shared.protocol.envelope import EnvelopeError, unverified_parts
from shared.protocol.subjects import POLICY_CHANGE_TYPE, POLICY_CHANGES_SUBJECT
from shared.protocol.vocabulary import AuditEventType

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
    """With the registry's `signing_key`, stored `sent`/`received` referral events are also
    checked against the registry's own policy data after the fact, in a transaction of their
    own (RegistryService.flag_policy_mismatches): a failing check never costs an event."""

    def __init__(self, engine: Engine, directory: Directory,
                 signing_key: OKPKey | None = None) -> None:
        self.engine = engine
        self.directory = directory
        self.signing_key = signing_key

    async def run(self, subscription: JetStreamContext.PullSubscription,
                  stop: asyncio.Event) -> None:
        await fetch_batches(subscription, self.handle_batch, BATCH_SIZE, stop)

    async def handle_batch(self, messages: list[Msg]) -> None:
        checked = await asyncio.to_thread(self._check, messages)
        valid = [(msg, result) for msg, result in checked if isinstance(result, Verified)]
        refused = [(msg, result) for msg, result in checked if isinstance(result, AuditRejected)]
        later = [msg for msg, result in checked if result is None]
        fresh: list[AuditEvent] = []
        try:
            fresh, quarantined = await asyncio.to_thread(
                self._store, [r for _, r in valid],
                [quarantine_row(m.data, m.subject, r.code) for m, r in refused])
        except Exception:
            log.exception("audit_batch_failed", size=len(valid) + len(refused))
            for msg, _ in [*valid, *refused]:
                await msg.nak(delay=2)
            quarantined = 0
        else:
            for msg, _ in [*valid, *refused]:
                await msg.ack()
            if fresh and self.signing_key is not None:
                await asyncio.to_thread(self._check_policy, fresh)
        stored = len(fresh)
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
               ) -> tuple[list[AuditEvent], int]:
        """The events stored now (not those stored before), and how many were quarantined."""
        with session_scope(self.engine) as session:
            registry = RegistryService(session)
            known = registry.repo.known_event_ids([v.event.event_id for v in events])
            for country in dict.fromkeys(v.country for v in events):
                registry.record_audit_events(
                    [(v.event, v.jws) for v in events if v.country == country],
                    f"gateway:{country}")
            quarantined = registry.repo.quarantine_audit_events(refused)
        fresh = {v.event.event_id: v.event for v in events if v.event.event_id not in known}
        return list(fresh.values()), quarantined

    def _check_policy(self, events: list[AuditEvent]) -> None:
        try:
            with session_scope(self.engine) as session:
                RegistryService(session, self.directory, self.signing_key
                                ).flag_policy_mismatches(events)
        except Exception as exc:  # the events are stored; only the check is lost
            log.exception("policy_check_failed", events=len(events), error=type(exc).__name__)


class PolicyChangeNotices:
    """After a commit that changed agreements or consents (`changed`, from any thread),
    publish one small notice on POLICY_CHANGES_SUBJECT so the gateways re-fetch their policy
    snapshots at once: `{"v": "1", "type": "policy-changed", "changed_at": ...}`, nothing
    else. Changes made while a notice is being sent are told by the next one. Core NATS:
    a gateway that misses a notice catches up at its next periodic refresh."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending = asyncio.Event()
        self.published = 0

    def changed(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return  # not running (a registry without NATS): the gateways' refresh is the bound
        loop.call_soon_threadsafe(self._pending.set)

    async def run(self, nc: NATS, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()

        async def publish() -> None:
            body = {"v": "1", "type": POLICY_CHANGE_TYPE,
                    "changed_at": utcnow().isoformat(timespec="milliseconds")}
            await nc.publish(POLICY_CHANGES_SUBJECT, json.dumps(body).encode())
            await nc.flush(timeout=5)
            self.published += 1

        # A notice not published is tried again (with backoff); the gateways' periodic
        # refresh is the bound meanwhile.
        await run_every(None, publish, stop, wake=self._pending, at_start=False,
                        failure_event="policy_notice_not_published")
