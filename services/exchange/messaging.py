"""The gateway's JetStream side: publish the outbox, take in what other gateways send."""

from __future__ import annotations

import asyncio
import contextlib

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from sqlalchemy import Engine

from services.exchange.gateway import Gateway, LocalDelivery
from services.exchange.inbound import InboundService
from services.exchange.models import OutboxMessage
from services.exchange.repository import GatewayRepository
from shared.db import session_scope
from shared.envelope import EnvelopeError, unverified_parts
from shared.logging import get_logger

log = get_logger(__name__)


class OutboxPublisher:
    """Publishes committed outbox rows in order, with their message id for de-duplication.

    A row is marked published only after JetStream acknowledged it, so a crash between
    the two publishes it again and the stream's duplicate window drops the copy.
    """

    batch_size = 200
    idle_poll_seconds = 0.5

    def __init__(self, engine: Engine, js: JetStreamContext,
                 local: LocalDelivery | None = None) -> None:
        self.engine = engine
        self.js = js
        self.local = local
        self.wake = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None

    def notify(self) -> None:
        """Callable from any thread once a transaction that wrote to the outbox committed."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        self.loop = asyncio.get_running_loop()
        while not stop.is_set():
            try:
                published = await self.publish_pending()
            except Exception as exc:
                log.warning("outbox_publish_failed", error=type(exc).__name__)
                published = 0
                await asyncio.sleep(1)
            if published < self.batch_size:
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.idle_poll_seconds)

    async def publish_pending(self) -> int:
        rows = await asyncio.to_thread(self._pending)
        if not rows:
            return 0
        # Messages between two institutions of this gateway never go over NATS.
        local = self.local
        here = [r for r in rows if local is not None and local.takes(r)]
        handled = await asyncio.to_thread(local.deliver, here) if local and here else []
        rows = [r for r in rows if local is None or not local.takes(r)]
        acks = await asyncio.gather(
            *(self.js.publish(r.subject, r.payload.encode(), headers=r.headers) for r in rows),
            return_exceptions=True,
        )
        published = [r.seq for r, ack in zip(rows, acks, strict=True)
                     if not isinstance(ack, BaseException) and r.seq is not None]
        failures = len(rows) - len(published)
        if failures:
            log.warning("outbox_publish_incomplete", failed=failures)
        done = handled + published
        if done:
            await asyncio.to_thread(self._mark, done)
        return len(done)

    def _pending(self) -> list[OutboxMessage]:
        with session_scope(self.engine) as session:
            return GatewayRepository(session).pending_outbox(self.batch_size)

    def _mark(self, seqs: list[int]) -> None:
        with session_scope(self.engine) as session:
            GatewayRepository(session).mark_published(seqs)


def conversation_of(msg: Msg) -> str:
    """What a message belongs to (its referral or alert), read before verification: only to
    keep the messages of one conversation in order while others are handled alongside."""
    try:
        _, payload = unverified_parts(msg.data.decode("ascii"))
    except (EnvelopeError, UnicodeDecodeError):
        return ""
    body = payload.get("body")
    if not isinstance(body, dict):
        body = {}
    for value in (payload.get("in_reply_to"), body.get("referral_id"), body.get("alert_id"),
                  body.get("message_id"), payload.get("id")):
        if isinstance(value, str) and value:
            return value
    return ""


class InboundConsumer:
    def __init__(self, gateway: Gateway, publisher: OutboxPublisher) -> None:
        self.inbound = InboundService(gateway)
        self.publisher = publisher

    async def handle(self, msg: Msg) -> None:
        outcome = await asyncio.to_thread(
            self.inbound.process, msg.data, msg.subject, msg.metadata.sequence.stream,
            msg.metadata.num_delivered or 1,
        )
        await msg.ack()
        self.publisher.notify()
        log.info("message_handled", subject=msg.subject, outcome=outcome)
