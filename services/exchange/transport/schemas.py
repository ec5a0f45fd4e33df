"""What the quarantine shows."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, field_validator

from shared.kit.pagination import Page


class QuarantinePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    subject: str
    message_id: str | None
    claimed_sender: str | None
    # The sender once its signature verified; None while unproven.
    verified_sender: str | None = None
    message_type: str | None
    reason: str
    detail: str
    raw_size: int
    raw_sha256: str
    received_at: datetime


class QuarantineQuotaPublic(BaseModel):
    """A sender's quarantine quota: messages kept, and those beyond it only counted."""

    model_config = ConfigDict(from_attributes=True)

    sender: str | None  # None: all senders not proven by a signature
    kept: int
    over: int
    last_over_reason: str | None
    last_over_at: datetime | None

    @field_validator("sender", mode="before")
    @classmethod
    def _unproven(cls, value: str) -> str | None:
        return value or None


class QuarantinePage(Page[QuarantinePublic]):
    """Refused messages, newest first, and every sender over its quota."""

    over_quota: list[QuarantineQuotaPublic] = []
