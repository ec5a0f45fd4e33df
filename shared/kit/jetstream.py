"""NATS JetStream for a service: connecting, streams, durable pull consumers, and consuming
them a batch at a time in stream order, and the backoff of a redelivery."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from shared.kit.logging import NATS_CORRELATION_HEADER, get_logger
from shared.kit.loops import exponential_backoff

MSG_ID_HEADER = "Nats-Msg-Id"

DUPLICATE_WINDOW_SECONDS = 24 * 3600
STREAM_MAX_AGE_SECONDS = 30 * 24 * 3600

log = get_logger(__name__)


async def connect(url: str, name: str, credentials: Path | None = None,
                  inbox_prefix: str = "",
                  on_reconnect: Callable[[], Awaitable[None]] | None = None) -> NATS:
    """Connect as the identity of a .creds file, with replies to `inbox_prefix` if given.
    `on_reconnect` runs after each reconnection (what was published meanwhile on core NATS
    subjects, such as policy change notices, was missed)."""
    options: dict[str, Any] = {}
    if on_reconnect is not None:
        options["reconnected_cb"] = on_reconnect
    if credentials is not None:
        options["user_credentials"] = str(credentials)
    if inbox_prefix:
        options["inbox_prefix"] = inbox_prefix

    async def on_error(exc: Exception) -> None:
        if "authorization violation" in str(exc).lower():
            # Retried (the creds may be fixed), but said plainly each time.
            log.error("nats_login_refused", credentials=str(credentials) if credentials
                      else "none: ENLACE_NATS_CREDENTIALS is not set")
        else:
            log.warning("nats_error", error=type(exc).__name__, detail=str(exc)[:200])

    return await nats.connect(
        url, name=name, max_reconnect_attempts=-1, reconnect_time_wait=0.5,
        connect_timeout=5, error_cb=on_error, **options,
    )


async def ensure_stream(js: JetStreamContext, name: str, subjects: list[str]) -> None:
    config = StreamConfig(
        name=name,
        subjects=subjects,
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        max_age=STREAM_MAX_AGE_SECONDS,
    )
    try:
        await js.stream_info(name)
    except NotFoundError:
        try:
            await js.add_stream(config)
        except BadRequestError:
            # Another service created it between our look and our add.
            await js.stream_info(name)


async def durable_pull_subscription(
    js: JetStreamContext, stream: str, durable: str, filter_subject: str,
    max_deliver: int = -1, max_ack_pending: int = 2000,
) -> JetStreamContext.PullSubscription:
    """The durable consumer, created with this configuration if it does not exist yet."""
    config = ConsumerConfig(
        durable_name=durable,
        ack_policy=AckPolicy.EXPLICIT,
        filter_subject=filter_subject,
        ack_wait=30,
        max_deliver=max_deliver,
        max_ack_pending=max_ack_pending,
    )
    return await js.pull_subscribe(filter_subject, durable=durable, stream=stream, config=config)


async def bind_durable_consumer(
    js: JetStreamContext, stream: str, durable: str, filter_subject: str,
    retry_seconds: float = 2.0, max_deliver: int = -1, max_ack_pending: int = 2000,
) -> JetStreamContext.PullSubscription:
    """Bind (or create) a service's own durable consumer, waiting for its stream: only the
    secretariat (`enlace up`, the registry) may create streams, not a gateway."""
    while True:
        try:
            return await durable_pull_subscription(js, stream, durable, filter_subject,
                                                   max_deliver, max_ack_pending)
        except NotFoundError:
            log.warning("stream_missing", stream=stream, retry_seconds=retry_seconds)
            await asyncio.sleep(retry_seconds)


MessageHandler = Callable[[Msg], Awaitable[None]]
MAX_BACKOFF_SECONDS = 60.0


def redelivery_delay(deliveries: int | None) -> float:
    """Exponential backoff for a message whose handling failed: 1 s, 2 s, 4 s ... 60 s."""
    return exponential_backoff(deliveries or 1, cap=MAX_BACKOFF_SECONDS)


async def consume_in_batches(
    subscription: JetStreamContext.PullSubscription,
    on_batch: Callable[[list[Msg]], Coroutine[Any, Any, None]],
    batch: int = 100,
    stop: asyncio.Event | None = None,
) -> None:
    """Hand each fetched batch over whole, one batch after another in stream order, fetching
    the next while one is handled. The batch handler settles (acks, naks or terms) each
    message; if it raises, its unsettled messages are redelivered after the ack wait."""
    handling: asyncio.Task[None] | None = None

    def settled(done: asyncio.Task[None]) -> None:
        if not done.cancelled() and done.exception() is not None:
            log.error("batch_not_settled", error=type(done.exception()).__name__)

    async def handed(messages: list[Msg]) -> None:
        nonlocal handling
        if handling is not None:
            await asyncio.wait([handling])
        handling = asyncio.create_task(on_batch(messages))
        handling.add_done_callback(settled)

    try:
        await fetch_batches(subscription, handed, batch, stop)
        if handling is not None:
            await asyncio.wait([handling])
    finally:
        if handling is not None:
            handling.cancel()


async def fetch_batches(
    subscription: JetStreamContext.PullSubscription,
    on_batch: Callable[[list[Msg]], Awaitable[None]],
    batch: int = 100,
    stop: asyncio.Event | None = None,
) -> None:
    """Fetch until stopped and hand each batch over; the batch handler acks (or naks)."""
    while stop is None or not stop.is_set():
        try:
            messages = await subscription.fetch(batch, timeout=1)
        except TimeoutError:
            continue
        except Exception as exc:  # connection trouble: nats-py reconnects by itself
            log.warning("fetch_failed", error=type(exc).__name__)
            await asyncio.sleep(0.5)
            continue
        try:
            await on_batch(messages)
        except Exception:  # e.g. an ack lost with the connection: redelivered later
            log.exception("batch_not_settled", size=len(messages))


async def close(nc: NATS) -> None:
    """Drain on shutdown; a connection that is reconnecting just closes."""
    try:
        await nc.drain()
    except Exception:
        await nc.close()


def headers_for(msg_id: str, correlation_id: str | None, **extra: str) -> dict[str, str]:
    headers = {MSG_ID_HEADER: msg_id, **extra}
    if correlation_id:
        headers[NATS_CORRELATION_HEADER] = correlation_id
    return headers
