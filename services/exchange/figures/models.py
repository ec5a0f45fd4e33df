"""The facts the figures count, kept as plain columns beside the records they come from and
written in the same transaction: closed codes, months and moments, never a name, a case
reference or a date of birth (docs/figures.md)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from shared.kit.db import UTCDateTime


class ReferralFacts(SQLModel, table=True):
    """One referral this gateway sent (the sender's row: a referral is counted by its
    sender's gateway only), as the figures see it."""

    __tablename__ = "referral_facts"
    # The durations' medians read values in order within a pair and month, by these.
    __table_args__ = tuple(
        Index(f"ix_referral_facts_{name}", "origin", "destination", "month", name,
              "institution_id")
        for name in ("seconds_to_delivered", "seconds_to_accepted", "seconds_to_closed"))

    referral_id: str = Field(primary_key=True, max_length=64)
    # The sender. Not indexed on its own: the figures read the facts along the indexes
    # below, which end with it.
    institution_id: str = Field(max_length=64)
    origin: str = Field(max_length=2)
    destination: str = Field(max_length=2)
    month: str = Field(max_length=7)  # YYYY-MM (UTC) of the sending
    age_band: str = Field(max_length=8)
    sex: str = Field(max_length=8)
    accompaniment: str = Field(max_length=16)
    needs: int = 0  # a bit per protection need (figures.facts.NEED_BITS)
    urgency: str = Field(max_length=12)
    purpose: str = Field(max_length=40)
    detection_area: str = Field(max_length=16)
    state: str = Field(max_length=20)
    outcome: str = Field(max_length=16)
    reason: str | None = Field(default=None, max_length=40)  # a rejection's reason code
    sent_at: datetime = Field(sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # Whole seconds from the sending, so that medians are an ORDER BY over one column.
    seconds_to_delivered: int | None = None
    seconds_to_accepted: int | None = None
    seconds_to_closed: int | None = None


class ReferralTally(SQLModel, table=True):
    """How many referrals an institution sent to a country in a month: in all (dimension
    and value empty), and by the value of each breakdown (a rejection's reason: by the
    rejected ones' reason). Kept with the facts, in the same transactions, so that the
    figures read this small table and not every referral."""

    __tablename__ = "referral_tally"

    institution_id: str = Field(primary_key=True, max_length=64)
    origin: str = Field(primary_key=True, max_length=2)
    destination: str = Field(primary_key=True, max_length=2)
    month: str = Field(primary_key=True, max_length=7)
    dimension: str = Field(primary_key=True, max_length=20)
    value: str = Field(primary_key=True, max_length=40)
    count: int = 0


class QuarantineTally(SQLModel, table=True):
    """How many messages for an institution were quarantined, by month and reason (those over
    the quarantine's quota included: they are counted, not kept)."""

    __tablename__ = "quarantine_tally"

    institution_id: str = Field(primary_key=True, max_length=64)
    month: str = Field(primary_key=True, max_length=7)
    reason: str = Field(primary_key=True, max_length=40)
    count: int = 0

