"""Gateway tables. Children's personal data lives here (and only in gateways)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKeyConstraint, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.kit.db import JSONValue, UTCDateTime, utcnow
from shared.protocol.auth import ApiToken
from shared.web.people import Person, WebSession


class Referral(SQLModel, table=True):
    """One referral as one side sees it; its id is the referral message's id. A referral
    between two institutions of this gateway has both rows, told apart by direction."""

    __tablename__ = "referrals"

    id: str = Field(primary_key=True, max_length=64)
    direction: str = Field(primary_key=True, index=True, max_length=8)
    sender_id: str = Field(index=True, max_length=64)
    recipient_id: str = Field(index=True, max_length=64)
    status: str = Field(index=True, max_length=20)
    case_reference: str = Field(max_length=100)
    purpose: str = Field(max_length=40)
    agreement_id: str = Field(max_length=64)
    categories: list[str] = Field(sa_type=JSONValue)
    record: dict[str, Any] = Field(sa_type=JSONValue)
    envelope: str
    envelope_digest: str = Field(max_length=64)
    receipt: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ReferralEvent(SQLModel, table=True):
    """One step of a referral's life, by either side; the state is derived from all of them."""

    __tablename__ = "referral_events"
    __table_args__ = (ForeignKeyConstraint(
        ["referral_id", "direction"], ["referrals.id", "referrals.direction"],
        name="referral_events_referral_id_fkey"),)

    id: str = Field(primary_key=True, max_length=64)
    # Which side's row of the referral this step belongs to (set by add_event): a referral
    # between two hosted institutions records each step on both.
    direction: str = Field(default="", primary_key=True, max_length=8)
    referral_id: str = Field(index=True, max_length=64)
    action: str = Field(max_length=20)
    side: str = Field(max_length=10)
    actor_id: str = Field(max_length=64)
    clock: int
    at: datetime = Field(sa_type=UTCDateTime)
    reason: str | None = Field(default=None, max_length=2000)
    outcome: str | None = Field(default=None, max_length=2000)
    note: str | None = Field(default=None, max_length=4000)


class Alert(SQLModel, table=True):
    """A missing-child alert, as its issuer or one of its recipients holds it."""

    __tablename__ = "alerts"

    key: int | None = Field(default=None, primary_key=True)
    id: str = Field(index=True, max_length=64)
    direction: str = Field(max_length=8)
    issuer_id: str = Field(index=True, max_length=64)
    recipient_id: str | None = Field(default=None, index=True, max_length=64)
    status: str = Field(max_length=12)
    version: int = 1
    category: str = Field(max_length=40)
    urgency: str = Field(max_length=12)
    public: dict[str, Any] = Field(sa_type=JSONValue)
    details: dict[str, Any] = Field(sa_type=JSONValue)
    target_countries: list[str] = Field(sa_type=JSONValue)
    located: dict[str, Any] | None = Field(default=None, sa_type=JSONValue)
    reason: str | None = Field(default=None, max_length=2000)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: str | None = Field(default=None, max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AlertTarget(SQLModel, table=True):
    """On the issuer's side: one recipient of an alert, and what became of it there."""

    __tablename__ = "alert_targets"

    id: int | None = Field(default=None, primary_key=True)
    alert_id: str = Field(index=True, max_length=64)
    country: str = Field(max_length=2)
    recipient_id: str | None = Field(default=None, max_length=64)
    message_id: str | None = Field(default=None, index=True, max_length=64)
    received_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    acknowledged_by: str | None = Field(default=None, max_length=200)
    escalated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


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


class OutboxMessage(SQLModel, table=True):
    """Written in the same transaction as the change it announces; published after commit."""

    __tablename__ = "outbox"

    seq: int | None = Field(default=None, primary_key=True)
    msg_id: str = Field(unique=True, max_length=64)
    subject: str = Field(max_length=200)
    headers: dict[str, str] = Field(sa_type=JSONValue)
    payload: str
    referral_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    published_at: datetime | None = Field(default=None, index=True, sa_type=UTCDateTime)


class QuarantinedMessage(SQLModel, table=True):
    """A message that could not be trusted or accepted, kept with its reason."""

    __tablename__ = "quarantine"

    id: int | None = Field(default=None, primary_key=True)
    stream_sequence: int = Field(unique=True)
    subject: str = Field(max_length=200)
    message_id: str | None = Field(default=None, index=True, max_length=200)
    claimed_sender: str | None = Field(default=None, max_length=200)
    message_type: str | None = Field(default=None, max_length=40)
    reason: str = Field(max_length=40)
    detail: str = Field(max_length=500)
    # The sender once its signature verified; None while unproven (one quota for all those).
    verified_sender: str | None = Field(default=None, index=True, max_length=64)
    # The first ENLACE_QUARANTINE_MAX_RAW_BYTES bytes exactly as received, and the whole's
    # size and SHA-256: bytes, because what arrives need not be text any database can hold.
    raw: bytes = Field(sa_type=LargeBinary)
    raw_size: int
    raw_sha256: str = Field(max_length=64)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class QuarantineQuota(SQLModel, table=True):
    """Per sender: how many messages the quarantine keeps, and how many it only counted
    because the quota was used up (ENLACE_QUARANTINE_MAX_PER_SENDER)."""

    __tablename__ = "quarantine_quota"

    sender: str = Field(primary_key=True, max_length=64)  # "" for all unproven senders
    kept: int = 0
    over: int = 0
    last_over_reason: str | None = Field(default=None, max_length=40)
    last_over_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


MODELS = (
    Referral, ReferralEvent, Alert, AlertTarget, WebhookSubscription, WebhookDelivery,
    OutboxMessage, QuarantinedMessage, QuarantineQuota, ApiToken,
    Person, WebSession)
