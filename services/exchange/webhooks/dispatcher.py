"""Delivers the queued webhook calls, signed with HMAC-SHA256, retried with backoff."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from datetime import timedelta

import httpx
from sqlalchemy import Engine

from services.exchange.webhooks.repository import WebhookRepository
from shared.kit.db import session_scope, utcnow
from shared.kit.logging import get_logger
from shared.kit.loops import exponential_backoff, run_every

SIGNATURE_HEADER = "Enlace-Signature"
EVENT_HEADER = "Enlace-Event"
MAX_ATTEMPTS = 15
MAX_BACKOFF_SECONDS = 3600

log = get_logger(__name__)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>`: the receiver recomputes it."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def backoff_seconds(attempts: int) -> int:
    return int(exponential_backoff(attempts, cap=MAX_BACKOFF_SECONDS))


class WebhookDispatcher:
    """Delivers due webhook calls; a failure is retried later with exponential backoff."""

    batch_size = 50
    poll_seconds = 0.5

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            async def dispatch() -> None:
                due = await asyncio.to_thread(self._due)
                if due:
                    results = await asyncio.gather(*(self._call(client, *d) for d in due))
                    await asyncio.to_thread(self._record, results)

            await run_every(self.poll_seconds, dispatch, stop,
                            failure_event="webhook_dispatch_failed")

    def _due(self) -> list[tuple[int, str, str, str]]:
        with session_scope(self.engine) as session:
            rows = WebhookRepository(session).due(utcnow(), self.batch_size)
            return [(d.id or 0, s.url, s.secret, d.payload) for d, s in rows]

    async def _call(self, client: httpx.AsyncClient, delivery_id: int, url: str, secret: str,
                    payload: str) -> tuple[int, str | None]:
        body = payload.encode()
        headers = {"Content-Type": "application/json",
                   SIGNATURE_HEADER: signature(secret, int(time.time()), body),
                   EVENT_HEADER: json.loads(payload)["event_type"]}
        try:
            response = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return delivery_id, type(exc).__name__
        return delivery_id, None if response.is_success else f"HTTP {response.status_code}"

    def _record(self, results: list[tuple[int, str | None]]) -> None:
        now = utcnow()
        with session_scope(self.engine) as session:
            repo = WebhookRepository(session)
            for delivery_id, error in results:
                delivery = repo.delivery(delivery_id)
                if delivery is None:
                    continue
                delivery.attempts += 1
                delivery.last_status = error or "delivered"
                if error is None:
                    delivery.delivered_at = now
                elif delivery.attempts >= MAX_ATTEMPTS:
                    delivery.failed_at = now
                    log.warning("webhook_gave_up", delivery_id=delivery_id)
                else:
                    delivery.next_attempt_at = now + timedelta(
                        seconds=backoff_seconds(delivery.attempts))
                repo.stage(delivery)
