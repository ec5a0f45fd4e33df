"""Webhooks: every new message and state change of an institution, pushed to the URLs its
case system registered, signed with HMAC-SHA256 and retried with backoff.

Payloads are the audit events themselves (identifiers, types, statuses; never a child's
personal data): the case system reads the record through the API when it needs it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
import weakref
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import Engine, event
from sqlmodel import Session, col, select

from services.exchange.models import WebhookDelivery, WebhookSubscription
from shared.kit.db import session_scope, utcnow
from shared.kit.errors import NotFound
from shared.kit.logging import get_logger
from shared.protocol.auth import Principal, Role, require_role
from shared.protocol.vocabulary import AuditEventType

SIGNATURE_HEADER = "Enlace-Signature"
EVENT_HEADER = "Enlace-Event"
MAX_ATTEMPTS = 15
MAX_BACKOFF_SECONDS = 3600
# Reads and the console's people signing in are for the audit log, not the case system.
NOT_PUSHED = {AuditEventType.record_read.value, AuditEventType.sign_in.value,
              AuditEventType.sign_in_failed.value, AuditEventType.password_changed.value,
              AuditEventType.person_unlocked.value}

log = get_logger(__name__)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`t=<unix time>,v1=<hex HMAC-SHA256 of "<t>." + body>`: the receiver recomputes it."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def backoff_seconds(attempts: int) -> int:
    return int(min(MAX_BACKOFF_SECONDS, 2 ** max(0, attempts - 1)))


class Subscribers:
    """Which institutions have an active subscription, per database, so that an audit event
    of one without costs no query. Forgotten when a subscription changes (and again once
    that change commits, so a look meanwhile cannot keep the old answer)."""

    def __init__(self) -> None:
        self._known: weakref.WeakKeyDictionary[Engine, frozenset[str]] = \
            weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def of(self, session: Session) -> frozenset[str]:
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine
        known = self._known.get(engine)
        if known is None:
            known = frozenset(session.exec(select(WebhookSubscription.institution_id).where(
                col(WebhookSubscription.active).is_(True))).all())
            with self._lock:
                self._known[engine] = known
        return known

    def changed(self, session: Session) -> None:
        bind = session.get_bind()
        engine = bind if isinstance(bind, Engine) else bind.engine

        def forget(*_: Any) -> None:
            with self._lock:
                self._known.pop(engine, None)

        forget()
        event.listen(session, "after_commit", forget, once=True)
        event.listen(session, "after_rollback", forget, once=True)


subscribers = Subscribers()


def pushes(session: Session, institution_id: str, event_type: str) -> bool:
    """Whether an audit event of this type and institution goes to any webhook."""
    return event_type not in NOT_PUSHED and institution_id in subscribers.of(session)


def queue_webhooks(session: Session, institution_id: str, event: dict[str, Any]) -> None:
    """Called with every audit event: queue it for the institution's subscriptions."""
    if not pushes(session, institution_id, event["event_type"]):
        return
    subscriptions = session.exec(select(WebhookSubscription).where(
        WebhookSubscription.institution_id == institution_id,
        col(WebhookSubscription.active).is_(True))).all()
    for subscription in subscriptions:
        session.add(WebhookDelivery(subscription_id=subscription.id, event_id=event["event_id"],
                                    payload=json.dumps(event)))


class WebhookService:
    def __init__(self, session: Session) -> None:
        self.session = session

    def subscribe(self, principal: Principal, url: str) -> WebhookSubscription:
        require_role(principal, Role.country_admin)
        subscription = WebhookSubscription(
            id=str(uuid.uuid4()), institution_id=principal.institution_id, url=url,
            secret=secrets.token_urlsafe(32))
        self.session.add(subscription)
        self.session.flush()
        subscribers.changed(self.session)
        return subscription

    def subscriptions(self, principal: Principal) -> list[WebhookSubscription]:
        require_role(principal, Role.country_admin)
        return list(self.session.exec(select(WebhookSubscription).where(
            WebhookSubscription.institution_id == principal.institution_id,
            col(WebhookSubscription.active).is_(True))))

    def unsubscribe(self, principal: Principal, subscription_id: str) -> None:
        require_role(principal, Role.country_admin)
        subscription = self.session.get(WebhookSubscription, subscription_id)
        if subscription is None or subscription.institution_id != principal.institution_id:
            raise NotFound("No webhook with this id is yours.", code="webhook_not_found")
        subscription.active = False
        self.session.add(subscription)
        subscribers.changed(self.session)


class WebhookDispatcher:
    """Delivers due webhook calls; a failure is retried later with exponential backoff."""

    batch_size = 50
    poll_seconds = 0.5

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def run(self, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            while not stop.is_set():
                try:
                    due = await asyncio.to_thread(self._due)
                    if due:
                        results = await asyncio.gather(*(self._call(client, *d) for d in due))
                        await asyncio.to_thread(self._record, results)
                except Exception as exc:
                    log.warning("webhook_dispatch_failed", error=type(exc).__name__)
                await asyncio.sleep(self.poll_seconds)

    def _due(self) -> list[tuple[int, str, str, str]]:
        with session_scope(self.engine) as session:
            rows = session.exec(
                select(WebhookDelivery, WebhookSubscription)
                .join(WebhookSubscription,
                      col(WebhookSubscription.id) == col(WebhookDelivery.subscription_id))
                .where(col(WebhookSubscription.active).is_(True),
                       col(WebhookDelivery.delivered_at).is_(None),
                       col(WebhookDelivery.failed_at).is_(None),
                       col(WebhookDelivery.next_attempt_at) <= utcnow())
                .order_by(col(WebhookDelivery.id)).limit(self.batch_size)).all()
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
            for delivery_id, error in results:
                delivery = session.get(WebhookDelivery, delivery_id)
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
                session.add(delivery)
