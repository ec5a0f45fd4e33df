"""The tables of referrals. Children's personal data lives here (and only in gateways)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKeyConstraint
from sqlmodel import Field, SQLModel

from shared.kit.db import JSONValue, UTCDateTime, utcnow


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
