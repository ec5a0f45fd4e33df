"""Webhook request and response bodies."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from services.exchange.schema_parts import Strict
from shared.kit.pagination import Page


class WebhookCreate(Strict):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"url": "https://cases.example.org/enlace/webhook"}]})

    url: str = Field(min_length=8, max_length=500, pattern=r"^https?://")


class WebhookPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    url: str
    created_at: datetime


class WebhookPage(Page[WebhookPublic]):
    """Webhooks, oldest first."""


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="Shown once: verify each call's Enlace-Signature with it")
