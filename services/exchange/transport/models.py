"""The tables of what travels: the outbox and the quarantine."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary
from sqlmodel import Field, SQLModel

from shared.kit.db import JSONValue, UTCDateTime, utcnow


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
