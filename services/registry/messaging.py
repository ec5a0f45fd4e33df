"""The registry's NATS side: the audit consumer, and the notices that the policy changed.

The consumer takes signed audit events from every gateway in batches. Each event is
verified (services/registry/audit_verification.py); in one transaction per batch, those
that pass are appended to the log (with the registry's policy-mismatch flags beside them),
those that fail go to the audit quarantine with their reason; the batch is acknowledged
after it commits. If the database fails, the batch is redelivered and event ids (and, for
the quarantine, the hash of the bytes) drop the copies. An event whose institution cannot
be looked up because the directory is down is redelivered later.
"""

from __future__ import annotations

import asyncio
import json

from joserfc.jwk import OKPKey
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from sqlalchemy import Engine

from services.registry.audit_verification import (
    Verified,
    quarantine_row,
    subject_country,
    verified_event,
)
from services.registry.directory import Directory
from services.registry.metrics import RegistryMetrics
from services.registry.models import AuditQuarantine
from services.registry.service import RegistryService
from services.registry.signing_keys import SigningKeyCache, verify_each
from shared.kit.db import session_scope, utcnow
from shared.kit.jetstream import fetch_batches
from shared.kit.logging import get_logger
from shared.kit.loops import run_every
from shared.protocol.audit_events import AuditEvent, AuditRejected
from shared.protocol.subjects import POLICY_CHANGE_TYPE, POLICY_CHANGES_SUBJECT

AUDIT_CONSUMER = "registry-audit"
BATCH_SIZE = 500
DIRECTORY_RETRY_SECONDS = 15

log = get_logger(__name__)


class AuditIngest:
    """With the registry's `signing_key`, stored `sent`/`received` referral events are also
    checked against the registry's own policy data after the fact
    (RegistryService.flag_policy_mismatches), in a savepoint of the batch's transaction: a
    failing check never costs an event. The directory's signing keys are kept from batch to
    batch (services/registry/signing_keys.py)."""

    def __init__(self, engine: Engine, directory: Directory,
                 signing_key: OKPKey | None = None,
                 metrics: RegistryMetrics | None = None) -> None:
        self.engine = engine
        self.directory = directory
        self.signing_key = signing_key
        self.metrics = metrics
        self.keys = SigningKeyCache(directory)

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
            if self.metrics is not None:
                self.metrics.audit_stored.inc(stored)
                for _, rejection in refused:
                    self.metrics.audit_quarantined.labels(rejection.code).inc()
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
        keys = self.keys.batch()
        return verify_each(
            messages, lambda msg: verified_event(msg.data, msg.subject, self.directory, keys),
            AuditRejected, lambda: AuditRejected("unverifiable", "verification failed"),
            "audit_event")

    def _store(self, events: list[Verified], refused: list[AuditQuarantine]
               ) -> tuple[int, int]:
        """One transaction: how many events were stored now (not before), and how many
        quarantined."""
        with session_scope(self.engine) as session:
            registry = RegistryService(session, self.directory, self.signing_key)
            known = registry.repo.known_event_ids([v.event.event_id for v in events])
            for country in dict.fromkeys(v.country for v in events):
                registry.record_audit_events(
                    [(v.event, v.jws) for v in events if v.country == country],
                    f"gateway:{country}")
            fresh = list({v.event.event_id: v.event for v in events
                          if v.event.event_id not in known}.values())
            if fresh and self.signing_key is not None:
                self._check_policy(registry, fresh)
            quarantined = registry.repo.quarantine_audit_events(refused)
        return len(fresh), quarantined

    @staticmethod
    def _check_policy(registry: RegistryService, events: list[AuditEvent]) -> None:
        try:
            with registry.repo.savepoint():
                registry.flag_policy_mismatches(events)
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
