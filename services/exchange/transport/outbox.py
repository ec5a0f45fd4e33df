"""The outbox: messages and audit events written in the transaction of the change they
announce, then published in order."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from nats.js import JetStreamContext
from sqlalchemy import Engine
from sqlmodel import Session

from services.exchange.gateway import Gateway
from services.exchange.metrics import ExchangeMetrics, type_of_row
from services.exchange.transport.local import LocalDelivery
from services.exchange.transport.models import OutboxMessage
from services.exchange.transport.repository import OutboxRepository
from services.exchange.transport.threads import run_on
from services.exchange.webhooks.service import pushes, queue_webhooks
from shared.kit.db import insert_row, session_scope, utcnow
from shared.kit.jetstream import headers_for
from shared.kit.logging import current_correlation_id, get_logger
from shared.kit.loops import run_every
from shared.protocol.audit_events import AuditEvent, sign_event
from shared.protocol.envelope import Envelope, sign_envelope
from shared.protocol.subjects import SENDER_HEADER, TYPE_HEADER, audit_subject, message_subject
from shared.protocol.vocabulary import AuditEventType

log = get_logger(__name__)


class Outbox:
    """Messages and audit events, written in the transaction of the change they announce."""

    def __init__(self, session: Session, gateway: Gateway) -> None:
        self.session = session
        self.gateway = gateway

    def send(self, envelope: Envelope, referral_id: str | None = None,
             country: str | None = None) -> str:
        """Sign as the envelope's sender and queue for its (single) recipient; return the JWS.
        `country` is the recipient's, when the caller already looked it up."""
        return self.queue(*self.signed(envelope, country), referral_id=referral_id)

    def signed(self, envelope: Envelope, country: str | None = None) -> tuple[Envelope, str, str]:
        """The envelope, its JWS and its recipient's country: all of `send` that needs no
        database, to do before a transaction opens."""
        token = sign_envelope(envelope, self.gateway.keys[envelope.sender])
        country = country or self.gateway.directory.institution(envelope.recipients[0])["country"]
        return envelope, token, country

    def queue(self, envelope: Envelope, token: str, country: str,
              referral_id: str | None = None) -> str:
        """Queue a message signed by `signed`; return its JWS."""
        recipient = envelope.recipients[0]
        headers = headers_for(envelope.id, current_correlation_id(),
                              **{TYPE_HEADER: envelope.type, SENDER_HEADER: envelope.sender})
        # Inserted at once, after any row the transaction staged before (its order is kept).
        insert_row(self.session, OutboxMessage(
            msg_id=envelope.id, subject=message_subject(country, recipient, envelope.type),
            headers=headers, payload=token, referral_id=referral_id,
        ))
        return token

    def audit(self, event_type: AuditEventType, institution_id: str, **fields: Any) -> None:
        """Sign the event with the key of the institution it is about, which must be hosted
        here: the registry takes no event a gateway cannot sign (docs/protocol.md §10)."""
        event = AuditEvent(event_id=str(uuid.uuid4()), event_type=event_type,
                           occurred_at=utcnow(), institution_id=institution_id, **fields)
        insert_row(self.session, OutboxMessage(
            msg_id=event.event_id, subject=audit_subject(self.gateway.country),
            headers=headers_for(event.event_id, current_correlation_id()),
            payload=sign_event(event, self.gateway.keys[institution_id]),
        ))
        if pushes(self.session, institution_id, event_type.value):
            queue_webhooks(self.session, institution_id,
                           event.model_dump(mode="json", exclude={"v"}, exclude_none=True))


class OutboxPublisher:
    """Publishes committed outbox rows in order, with their message id for de-duplication.

    A row is marked published only after JetStream acknowledged it, so a crash between
    the two publishes it again and the stream's duplicate window drops the copy.
    """

    batch_size = 200
    idle_poll_seconds = 0.5

    def __init__(self, engine: Engine, js: JetStreamContext,
                 local: LocalDelivery | None = None,
                 metrics: ExchangeMetrics | None = None) -> None:
        self.engine = engine
        self.js = js
        self.local = local
        self.metrics = metrics
        self.wake = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        # Its own thread: it never waits behind the inbound handler or a request.
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="outbox")

    def notify(self) -> None:
        """Callable from any thread once a transaction that wrote to the outbox committed."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        self.loop = asyncio.get_running_loop()

        async def publish() -> bool:
            return await self.publish_pending() >= self.batch_size  # a full batch: more

        # A notify during a cycle is kept (run_every clears the wake before each run); after
        # a failure (NATS away) it tries again within seconds, as messages wait.
        await run_every(self.idle_poll_seconds, publish, stop, wake=self.wake,
                        failure_event="outbox_publish_failed", retry_cap=2.0)

    async def publish_pending(self) -> int:
        rows = await run_on(self.executor, self._pending)
        if not rows:
            return 0
        # Messages between two institutions of this gateway never go over NATS.
        local = self.local
        here = [r for r in rows if local is not None and local.takes(r)]
        handled = await run_on(self.executor, local.deliver, here) if local and here else []
        rows = [r for r in rows if local is None or not local.takes(r)]
        acks = await asyncio.gather(
            *(self.js.publish(r.subject, r.payload.encode(), headers=r.headers) for r in rows),
            return_exceptions=True,
        )
        sent = [r for r, ack in zip(rows, acks, strict=True)
                if not isinstance(ack, BaseException) and r.seq is not None]
        published = [r.seq for r in sent if r.seq is not None]
        failures = len(rows) - len(published)
        if failures:
            log.warning("outbox_publish_incomplete", failed=failures)
        done = handled + published
        if done:
            await run_on(self.executor, self._mark, done)
            if self.metrics is not None:
                taken = set(handled)
                for row in [*(r for r in here if r.seq in taken), *sent]:
                    self.metrics.sent.labels(type_of_row(row.headers, row.subject)).inc()
        return len(done)

    def _pending(self) -> list[OutboxMessage]:
        with session_scope(self.engine) as session:
            return OutboxRepository(session).pending_outbox(self.batch_size)

    def _mark(self, seqs: list[int]) -> None:
        with session_scope(self.engine) as session:
            OutboxRepository(session).mark_published(seqs)
