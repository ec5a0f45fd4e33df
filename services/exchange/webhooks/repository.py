"""The queries of webhooks: subscriptions, and the calls queued for them."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from services.exchange.webhooks.models import WebhookDelivery, WebhookSubscription
from shared.kit.db import Repository


class WebhookRepository(Repository):
    def subscribed_institutions(self) -> list[str]:
        """The institutions with an active subscription."""
        return list(self.session.exec(select(WebhookSubscription.institution_id).where(
            col(WebhookSubscription.active).is_(True))).all())

    def active_subscriptions(self, institution_id: str) -> list[WebhookSubscription]:
        return list(self.session.exec(select(WebhookSubscription).where(
            WebhookSubscription.institution_id == institution_id,
            col(WebhookSubscription.active).is_(True))).all())

    def subscription(self, subscription_id: str) -> WebhookSubscription | None:
        return self.session.get(WebhookSubscription, subscription_id)

    def add_subscription(self, subscription: WebhookSubscription) -> None:
        self.session.add(subscription)
        self.session.flush()


    def due(self, now: datetime, limit: int
            ) -> list[tuple[WebhookDelivery, WebhookSubscription]]:
        """Calls not yet made or given up, whose time has come, oldest first."""
        rows = self.session.exec(
            select(WebhookDelivery, WebhookSubscription)
            .join(WebhookSubscription,
                  col(WebhookSubscription.id) == col(WebhookDelivery.subscription_id))
            .where(col(WebhookSubscription.active).is_(True),
                   col(WebhookDelivery.delivered_at).is_(None),
                   col(WebhookDelivery.failed_at).is_(None),
                   col(WebhookDelivery.next_attempt_at) <= now)
            .order_by(col(WebhookDelivery.id)).limit(limit)).all()
        return [(delivery, subscription) for delivery, subscription in rows]

    def delivery(self, delivery_id: int) -> WebhookDelivery | None:
        return self.session.get(WebhookDelivery, delivery_id)
