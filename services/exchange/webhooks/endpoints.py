"""Webhooks in the gateway's HTTP API (country administrators)."""

from __future__ import annotations

from datetime import datetime

from services.exchange.api import exchange_router
from services.exchange.webhooks.schemas import (
    WebhookCreate,
    WebhookCreated,
    WebhookPage,
    WebhookPublic,
)
from services.exchange.webhooks.service import WebhookService
from shared.kit.pagination import Pages
from shared.protocol.auth import CurrentPrincipal, SessionDep

router = exchange_router()


@router.post("/webhooks", response_model=WebhookCreated, status_code=201,
             operation_id="webhooks_subscribe")
def subscribe_webhook(
    body: WebhookCreate, session: SessionDep, principal: CurrentPrincipal
) -> WebhookCreated:
    """Push every new message and state change of your institution to a URL (administrators).

    Each call carries `Enlace-Signature: t=<unix time>,v1=<hex HMAC-SHA256>` computed over
    `"<t>." + body` with the secret returned here (once); failures are retried with backoff.
    """
    subscription = WebhookService(session).subscribe(principal, body.url)
    return WebhookCreated.model_validate(subscription, from_attributes=True)


@router.get("/webhooks", response_model=WebhookPage, operation_id="webhooks_list")
def list_webhooks(session: SessionDep, principal: CurrentPrincipal, pages: Pages
                  ) -> WebhookPage:
    """Your institution's webhooks (without their secrets), oldest first."""
    subscriptions = sorted(WebhookService(session).subscriptions(principal),
                           key=lambda s: (s.created_at, s.id))
    rows, next_link = pages.slice(subscriptions, lambda s: (s.created_at, s.id), datetime, str)
    return WebhookPage(items=[WebhookPublic.model_validate(s) for s in rows], next=next_link)


@router.delete("/webhooks/{webhook_id}", status_code=204, operation_id="webhooks_delete")
def delete_webhook(webhook_id: str, session: SessionDep, principal: CurrentPrincipal) -> None:
    """Stop pushing to this URL."""
    WebhookService(session).unsubscribe(principal, webhook_id)
