"""The registry's JetStream side: take audit events from every gateway."""

from __future__ import annotations

import asyncio

from nats.aio.msg import Msg
from pydantic import ValidationError
from sqlalchemy import Engine

from services.registry.schemas import AuditEventIn
from services.registry.service import RegistryService
from shared.db import session_scope
from shared.logging import get_logger

AUDIT_CONSUMER = "registry-audit"

log = get_logger(__name__)


class AuditIngest:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def handle(self, msg: Msg) -> None:
        try:
            event = AuditEventIn.model_validate_json(msg.data)
        except ValidationError:
            # Kept out of the log, acknowledged as terminal: redelivery cannot fix it.
            log.error("audit_event_invalid", subject=msg.subject, size=len(msg.data))
            await msg.term()
            return
        inserted = await asyncio.to_thread(self._store, event)
        log.info("audit_event", event_type=event.event_type, event_id=event.event_id,
                 duplicate=not inserted)
        await msg.ack()

    def _store(self, event: AuditEventIn) -> bool:
        with session_scope(self.engine) as session:
            return RegistryService(session).record_audit_event(event)
