"""The gateway's JetStream consumer: takes in what other gateways send, one conversation
in order, and tells /readyz whether it is flowing."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from services.exchange.clients.regional import RegionalServiceDown
from services.exchange.gateway import Gateway
from services.exchange.transport.arrivals import InboundLimits
from services.exchange.transport.dispatcher import InboundDispatcher
from services.exchange.transport.outbox import OutboxPublisher
from services.exchange.transport.threads import run_on
from shared.kit.logging import get_logger
from shared.protocol.envelope import EnvelopeError, unverified_parts

log = get_logger(__name__)


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
        self.dispatcher = InboundDispatcher(gateway, limits)
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
            outcome = await run_on(self.executor, self.dispatcher.process, msg.data, msg.subject,
                                   sequence, delivery, age)
        except RegionalServiceDown:
            raise  # retried until the message is too old (then `process` quarantines it)
        except Exception as exc:
            if delivery < self.dispatcher.limits.max_deliveries:
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
