"""The registry's JetStream side: take audit events from every gateway, in batches.

A batch is appended in one transaction and acknowledged after it commits; if the
database fails, every message of the batch is redelivered and event ids drop the copies.
"""

from __future__ import annotations

import asyncio

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from pydantic import ValidationError
from sqlalchemy import Engine

from services.registry.schemas import AuditEventIn
from services.registry.service import REGISTRY_EVENT_PREFIXES, RegistryService
from shared.db import session_scope
from shared.logging import get_logger
from shared.messaging import fetch_batches

AUDIT_CONSUMER = "registry-audit"
BATCH_SIZE = 500

log = get_logger(__name__)


def source_of(subject: str) -> str | None:
    """`gateway:MX` for enlace.audit.MX: the entry records which gateway reported it."""
    parts = subject.split(".")
    if len(parts) == 3 and len(parts[2]) == 2 and parts[2].isalpha() and parts[2].isupper():
        return f"gateway:{parts[2]}"
    return None


class AuditIngest:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def run(self, subscription: JetStreamContext.PullSubscription,
                  stop: asyncio.Event) -> None:
        await fetch_batches(subscription, self.handle_batch, BATCH_SIZE, stop)

    async def handle_batch(self, messages: list[Msg]) -> None:
        valid: list[tuple[Msg, AuditEventIn, str]] = []
        for msg in messages:
            event, source = self._parse(msg)
            if event is None or source is None:
                # Kept out of the log and terminated: redelivery cannot fix it.
                log.error("audit_event_invalid", subject=msg.subject, size=len(msg.data))
                await msg.term()
            else:
                valid.append((msg, event, source))
        try:
            stored = await asyncio.to_thread(self._store, [(e, s) for _, e, s in valid])
        except Exception:
            log.exception("audit_batch_failed", size=len(valid))
            for msg, _, _ in valid:
                await msg.nak(delay=2)
            return
        for msg, _, _ in valid:
            await msg.ack()
        if valid:
            log.info("audit_events", received=len(valid), stored=stored)

    @staticmethod
    def _parse(msg: Msg) -> tuple[AuditEventIn | None, str | None]:
        try:
            event = AuditEventIn.model_validate_json(msg.data)
        except ValidationError:
            return None, None
        if event.event_type.startswith(REGISTRY_EVENT_PREFIXES):
            return None, None
        return event, source_of(msg.subject)

    def _store(self, events: list[tuple[AuditEventIn, str]]) -> int:
        stored = 0
        with session_scope(self.engine) as session:
            registry = RegistryService(session)
            for source in dict.fromkeys(s for _, s in events):
                stored += registry.record_audit_events(
                    [e for e, s in events if s == source], source)
        return stored
