"""Registry request and response bodies."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.vocabulary import DataCategory, MessageType, Purpose

IdStr = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


class AgreementStatus(StrEnum):
    draft = "draft"
    active = "active"
    suspended = "suspended"
    expired = "expired"
    terminated = "terminated"


class AgreementCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = IdStr
    title: str = Field(min_length=1, max_length=300)
    parties: list[str] = Field(min_length=2)
    message_types: list[MessageType] = Field(min_length=1)
    purposes: list[Purpose] = Field(min_length=1)
    data_categories: list[DataCategory]
    valid_from: datetime
    valid_to: datetime


class AgreementPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    title: str
    parties: list[str]
    message_types: list[str]
    purposes: list[str]
    data_categories: list[str]
    valid_from: datetime
    valid_to: datetime
    status: str


class DecisionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sender: str = IdStr
    recipient: str = IdStr
    message_type: MessageType
    purpose: Purpose
    data_categories: list[DataCategory] = Field(default_factory=list)
    case_reference: str | None = Field(default=None, max_length=100)


class DenyReason(BaseModel):
    code: str
    detail: str


class Decision(BaseModel):
    decision: Literal["allow", "deny"]
    agreement_id: str | None = None
    allowed_categories: list[str] = Field(default_factory=list)
    withheld_categories: list[str] = Field(default_factory=list)
    reasons: list[DenyReason] = Field(default_factory=list)


class AuditEventIn(BaseModel):
    """What a gateway publishes on enlace.audit.<country>; identifiers only."""

    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1, max_length=64)
    event_type: str = Field(min_length=1, max_length=40)
    occurred_at: datetime
    institution_id: str = IdStr
    counterpart_id: str | None = None
    message_id: str | None = None
    message_type: str | None = None
    case_reference: str | None = Field(default=None, max_length=100)
    agreement_id: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)


class AuditEntryPublic(AuditEventIn):
    model_config = ConfigDict(from_attributes=True, extra="ignore")

    seq: int
    recorded_at: datetime


class AuditPage(BaseModel):
    items: list[AuditEntryPublic]
