"""The gateway's JetStream side: publish the outbox, take in what other gateways send."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TypeVar

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from sqlalchemy import Engine

from services.exchange.gateway import Gateway, LocalDelivery
from services.exchange.inbound import InboundLimits, InboundService
from services.exchange.models import OutboxMessage
from services.exchange.regional_client import RegionalServiceDown
from services.exchange.repository import GatewayRepository
from shared.kit.db import session_scope
from shared.kit.logging import get_logger
from shared.protocol.envelope import EnvelopeError, unverified_parts

log = get_logger(__name__)

T = TypeVar("T")


async def run_on(executor: ThreadPoolExecutor, call: Callable[..., T], *args: object) -> T:
    """`call` on the executor, under the caller's context (its correlation id)."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(
        executor, lambda: context.run(call, *args))


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
        # Its own thread: it never waits behind the inbound handler or a request.
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="outbox")

    def notify(self) -> None:
        """Callable from any thread once a transaction that wrote to the outbox committed."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.wake.set)

    async def run(self, stop: asyncio.Event) -> None:
        self.loop = asyncio.get_running_loop()
        while not stop.is_set():
            # Cleared before reading the outbox, so that a notify during the cycle is kept.
            self.wake.clear()
            try:
                published = await self.publish_pending()
            except Exception as exc:
                log.warning("outbox_publish_failed", error=type(exc).__name__)
                published = 0
                await asyncio.sleep(1)
            if published < self.batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), self.idle_poll_seconds)

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
        published = [r.seq for r, ack in zip(rows, acks, strict=True)
                     if not isinstance(ack, BaseException) and r.seq is not None]
        failures = len(rows) - len(published)
        if failures:
            log.warning("outbox_publish_incomplete", failed=failures)
        done = handled + published
        if done:
            await run_on(self.executor, self._mark, done)
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
    # Threads of its own, so that a message never waits behind a request or the outbox.
    # Writes are one at a time anyway (shared/kit/db.py); the threads overlap what waits on the
    # network (the policy decision) with other messages' work.
    threads = 8

    def __init__(self, gateway: Gateway, publisher: OutboxPublisher,
                 limits: InboundLimits | None = None) -> None:
        self.inbound = InboundService(gateway, limits)
        self.publisher = publisher
        self.executor = ThreadPoolExecutor(self.threads, thread_name_prefix="inbound")
        # Stream sequence -> when this process first took the message up, until it is
        # acked or terminated (a nak'ed message stays): what /readyz calls stuck.
        self.unsettled: dict[int, float] = {}

    async def handle(self, msg: Msg) -> None:
        sequence = msg.metadata.sequence.stream
        delivery = msg.metadata.num_delivered or 1
        self.unsettled.setdefault(sequence, time.monotonic())
        published = msg.metadata.timestamp
        age = (datetime.now(UTC) - published).total_seconds() if published else 0.0
        try:
            outcome = await run_on(self.executor, self.inbound.process, msg.data, msg.subject,
                                   sequence, delivery, age)
        except RegionalServiceDown:
            raise  # retried until the message is too old (then `process` quarantines it)
        except Exception as exc:
            if delivery < self.inbound.limits.max_deliveries:
                raise
            # Not even the quarantine could be written: give up rather than retry for ever.
            # The message stays in the stream (its max age) under this sequence.
            log.error("message_terminated", stream_sequence=sequence, deliveries=delivery,
                      error=type(exc).__name__)
            await msg.term()
            self.unsettled.pop(sequence, None)
            return
        await msg.ack()
        self.unsettled.pop(sequence, None)
        self.publisher.notify()
        log.info("message_handled", subject=msg.subject, outcome=outcome)

    def oldest_unsettled_seconds(self) -> float:
        return time.monotonic() - min(self.unsettled.values()) if self.unsettled else 0.0


class ConsumerHealth:
    """Whether the inbound consumer is flowing, for /readyz; asks the server at most once
    every `cache_seconds`."""

    cache_seconds = 2.0

    def __init__(self, js: JetStreamContext, stream: str, durable: str,
                 consumer: InboundConsumer, stuck_seconds: float) -> None:
        self.js = js
        self.stream = stream
        self.durable = durable
        self.consumer = consumer
        self.stuck_seconds = stuck_seconds
        self._checked_at = float("-inf")
        self._flowing = False

    async def flowing(self) -> bool:
        if time.monotonic() - self._checked_at < self.cache_seconds:
            return self._flowing
        self._checked_at = time.monotonic()
        try:
            info = await self.js.consumer_info(self.stream, self.durable, timeout=2)
        except Exception as exc:
            log.warning("consumer_info_failed", error=type(exc).__name__)
            self._flowing = False
            return False
        pending = info.num_ack_pending or 0
        if pending == 0:
            self.consumer.unsettled.clear()  # e.g. the server gave up on some (max_deliver)
        at_limit = pending >= (info.config.max_ack_pending or -1) > 0
        stuck = self.consumer.oldest_unsettled_seconds() > self.stuck_seconds
        if at_limit or stuck:
            log.warning("inbound_consumer_stuck", ack_pending=pending, at_limit=at_limit,
                        oldest_unsettled_seconds=round(self.consumer.oldest_unsettled_seconds()))
        self._flowing = not (at_limit or stuck)
        return self._flowing
