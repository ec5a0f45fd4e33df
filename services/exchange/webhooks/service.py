"""Webhooks: every new message and state change of an institution, pushed to the URLs its
case system registered (webhooks/dispatcher.py makes the calls).

Payloads are the audit events themselves (identifiers, types, statuses; never a child's
personal data): the case system reads the record through the API when it needs it.
"""

from __future__ import annotations

import json
import secrets
import threading
import uuid
import weakref
from typing import Any

from sqlalchemy import Engine, event
from sqlmodel import Session

from services.exchange.webhooks.models import WebhookDelivery, WebhookSubscription
from services.exchange.webhooks.repository import WebhookRepository
from shared.kit.errors import NotFound
from shared.protocol.auth import Principal, Role, require_role
from shared.protocol.vocabulary import AuditEventType

# Reads and the console's people signing in are for the audit log, not the case system.
NOT_PUSHED = {AuditEventType.record_read.value, AuditEventType.sign_in.value,
              AuditEventType.sign_in_failed.value, AuditEventType.password_changed.value,
              AuditEventType.person_unlocked.value}


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
            known = frozenset(WebhookRepository(session).subscribed_institutions())
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
    repo = WebhookRepository(session)
    for subscription in repo.active_subscriptions(institution_id):
        repo.stage(WebhookDelivery(subscription_id=subscription.id, event_id=event["event_id"],
                                    payload=json.dumps(event)))


class WebhookService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.repo = WebhookRepository(session)

    def subscribe(self, principal: Principal, url: str) -> WebhookSubscription:
        require_role(principal, Role.country_admin)
        subscription = WebhookSubscription(
            id=str(uuid.uuid4()), institution_id=principal.institution_id, url=url,
            secret=secrets.token_urlsafe(32))
        self.repo.add_subscription(subscription)
        subscribers.changed(self.session)
        return subscription

    def subscriptions(self, principal: Principal) -> list[WebhookSubscription]:
        require_role(principal, Role.country_admin)
        return self.repo.active_subscriptions(principal.institution_id)

    def unsubscribe(self, principal: Principal, subscription_id: str) -> None:
        require_role(principal, Role.country_admin)
        subscription = self.repo.subscription(subscription_id)
        if subscription is None or subscription.institution_id != principal.institution_id:
            raise NotFound("No webhook with this id is yours.", code="webhook_not_found")
        subscription.active = False
        self.repo.stage(subscription)
        subscribers.changed(self.session)
