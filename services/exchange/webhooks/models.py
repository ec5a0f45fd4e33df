"""The tables of webhooks: subscriptions and the calls queued for them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.kit.db import UTCDateTime, utcnow


class WebhookSubscription(SQLModel, table=True):
    """A national case system's URL, told of every new message and state change."""

    __tablename__ = "webhook_subscriptions"

    id: str = Field(primary_key=True, max_length=64)
    institution_id: str = Field(index=True, max_length=64)
    url: str = Field(max_length=500)
    secret: str = Field(max_length=100)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("subscription_id", "event_id"),)

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: str = Field(foreign_key="webhook_subscriptions.id", max_length=64)
    event_id: str = Field(max_length=64)
    payload: str
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, index=True, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    failed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status: str | None = Field(default=None, max_length=100)
