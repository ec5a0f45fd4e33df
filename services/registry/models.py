"""Registry tables. No child's personal data: cases appear only by pseudonymous reference."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from shared.auth import ApiToken
from shared.db import JSONValue, UTCDateTime, utcnow


class Agreement(SQLModel, table=True):
    __tablename__ = "agreements"

    id: str = Field(primary_key=True, max_length=64)
    title: str = Field(max_length=300)
    parties: list[str] = Field(sa_type=JSONValue)
    message_types: list[str] = Field(sa_type=JSONValue)
    purposes: list[str] = Field(sa_type=JSONValue)
    data_categories: list[str] = Field(sa_type=JSONValue)
    valid_from: datetime = Field(sa_type=UTCDateTime)
    valid_to: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AuditEntry(SQLModel, table=True):
    """Append-only: rows are inserted, never updated or deleted."""

    __tablename__ = "audit_entries"

    seq: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(unique=True, max_length=64)
    event_type: str = Field(index=True, max_length=40)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    institution_id: str = Field(index=True, max_length=64)
    counterpart_id: str | None = Field(default=None, max_length=64)
    message_id: str | None = Field(default=None, index=True, max_length=64)
    message_type: str | None = Field(default=None, max_length=40)
    case_reference: str | None = Field(default=None, index=True, max_length=100)
    agreement_id: str | None = Field(default=None, max_length=64)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSONValue)


MODELS = (Agreement, AuditEntry, ApiToken)
