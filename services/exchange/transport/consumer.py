"""The gateway's JetStream consumer: takes in what other gateways send, a fetched batch at a
time in stream order and in one transaction, and tells /readyz whether it is flowing."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from services.exchange.clients.regional import RegionalServiceDown
from services.exchange.gateway import Gateway
from services.exchange.transport.arrivals import InboundLimits
from services.exchange.transport.dispatcher import Delivered, InboundDispatcher
from services.exchange.transport.outbox import OutboxPublisher
from services.exchange.transport.threads import run_on
from shared.kit.jetstream import redelivery_delay
from shared.kit.logging import NATS_CORRELATION_HEADER, correlation, get_logger

log = get_logger(__name__)


def delivered(msg: Msg) -> Delivered:
    published = msg.metadata.timestamp
    return Delivered(
        raw=msg.data, subject=msg.subject, stream_sequence=msg.metadata.sequence.stream,
        delivery=msg.metadata.num_delivered or 1,
        age_seconds=(datetime.now(UTC) - published).total_seconds() if published else 0.0,
        correlation_id=(msg.headers or {}).get(NATS_CORRELATION_HEADER),
    )


class InboundConsumer:
    # A thread of its own, so that a message never waits behind a request or the outbox;
    # one, as batches are handled one after another (and writes are one at a time anyway).
    threads = 1

    def __init__(self, gateway: Gateway, publisher: OutboxPublisher,
                 limits: InboundLimits | None = None) -> None:
        self.dispatcher = InboundDispatcher(gateway, limits)
        self.metrics = gateway.metrics
        self.publisher = publisher
        self.executor = ThreadPoolExecutor(self.threads, thread_name_prefix="inbound")
        # Stream sequence -> when this process first took the message up, until it is
        # acked or terminated (a nak'ed message stays): what /readyz calls stuck.
        self.unsettled: dict[int, float] = {}

    async def handle_batch(self, messages: list[Msg]) -> None:
        """Handle a fetched batch (`InboundDispatcher.process_batch`), then settle each
        message: ack what was taken or quarantined, nak what may be taken later, term what
        not even the quarantine could hold after its last delivery."""
        now = time.monotonic()
        batch = [delivered(msg) for msg in messages]
        for each in batch:
            self.unsettled.setdefault(each.stream_sequence, now)
        outcomes = await run_on(self.executor, self.dispatcher.process_batch, batch)
        for msg, each, outcome in zip(messages, batch, outcomes, strict=True):
            with correlation(each.correlation_id):
                await self._settle(msg, each, outcome)
        self.publisher.notify()

    async def _settle(self, msg: Msg, each: Delivered, outcome: str | Exception) -> None:
        sequence = each.stream_sequence
        if isinstance(outcome, str):
            await msg.ack()
            self.unsettled.pop(sequence, None)
            self.metrics.received_one(msg.subject, outcome, each.delivery)
            log.info("message_handled", subject=msg.subject, outcome=outcome)
        elif isinstance(outcome, RegionalServiceDown) or \
                each.delivery < self.dispatcher.limits.max_deliveries:
            # Redelivered later (a service down: until the message is too old, then the
            # dispatcher quarantines it). The type only: an exception's text may quote the
            # message (a child's data).
            log.warning("message_handler_failed", stream_sequence=sequence,
                        deliveries=each.delivery, error=type(outcome).__name__)
            await msg.nak(delay=redelivery_delay(each.delivery))
            self.metrics.received_one(msg.subject, "retry", each.delivery)
        else:
            # Not even the quarantine could be written: give up rather than retry for ever.
            # The message stays in the stream (its max age) under this sequence.
            log.error("message_terminated", stream_sequence=sequence, deliveries=each.delivery,
                      error=type(outcome).__name__)
            await msg.term()
            self.unsettled.pop(sequence, None)
            self.metrics.received_one(msg.subject, "terminated", each.delivery)

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
