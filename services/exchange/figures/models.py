"""The facts the figures count, kept as plain columns beside the records they come from and
written in the same transaction: closed codes, months and moments, never a name, a case
reference or a date of birth (docs/figures.md)."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from shared.kit.db import UTCDateTime


class ReferralFacts(SQLModel, table=True):
    """One referral this gateway sent (the sender's row: a referral is counted by its
    sender's gateway only), as the figures see it."""

    __tablename__ = "referral_facts"

    referral_id: str = Field(primary_key=True, max_length=64)
    institution_id: str = Field(index=True, max_length=64)  # the sender
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


class QuarantineTally(SQLModel, table=True):
    """How many messages for an institution were quarantined, by month and reason (those over
    the quarantine's quota included: they are counted, not kept)."""

    __tablename__ = "quarantine_tally"

    institution_id: str = Field(primary_key=True, max_length=64)
    month: str = Field(primary_key=True, max_length=7)
    reason: str = Field(primary_key=True, max_length=40)
    count: int = 0

