"""The tables of missing-child alerts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from shared.kit.db import JSONValue, UTCDateTime, utcnow


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
    # When the issuer learnt the child was located (the figures' time until located).
    located_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
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
    # When the desk confirmed the notice that closed the alert (located or cancelled): until
    # then the alert may still be active there.
    closed_received_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
