"""The alerts' scheduled job: an escalation for each country that stays silent."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from services.exchange.alerts.repository import AlertRepository
from services.exchange.gateway import Gateway
from services.exchange.transport.outbox import Outbox
from shared.kit.db import session_scope, utcnow
from shared.kit.logging import get_logger
from shared.kit.loops import run_every
from shared.protocol.vocabulary import AuditEventType, MessageType

log = get_logger(__name__)


def escalate_overdue(gateway: Gateway, ack_timeout_seconds: int) -> int:
    """Raise an escalation for each target that has not acknowledged in time."""
    deadline = datetime.now(UTC) - timedelta(seconds=ack_timeout_seconds)
    with session_scope(gateway.engine) as session:
        repo = AlertRepository(session)
        overdue = repo.overdue_targets(deadline)
        outbox = Outbox(session, gateway)
        for target, alert in overdue:
            target.escalated_at = utcnow()
            repo.stage(target)
            outbox.audit(AuditEventType.alert_escalated, alert.issuer_id,
                         counterpart_id=target.recipient_id, message_id=alert.id,
                         message_type=MessageType.alert.value,
                         detail={"country": target.country,
                                 "no_recipient": target.recipient_id is None})
            log.warning("alert_escalated", alert_id=alert.id, country=target.country)
        return len(overdue)


async def escalate_forever(gateway: Gateway, ack_timeout_seconds: int,
                           stop: asyncio.Event) -> None:
    interval = max(1.0, min(30.0, ack_timeout_seconds / 4))

    async def escalate() -> None:
        await asyncio.to_thread(escalate_overdue, gateway, ack_timeout_seconds)

    await run_every(interval, escalate, stop, failure_event="alert_escalation_failed")
