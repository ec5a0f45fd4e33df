"""Gateway HTTP API for the national case system."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from services.exchange.alerts import AlertService
from services.exchange.schemas import (
    Acknowledgement,
    ActionRequest,
    AlertChange,
    AlertCreate,
    AlertPage,
    AlertView,
    QuarantinePage,
    QuarantinePublic,
    QuarantineQuotaPublic,
    ReferralAccepted,
    ReferralCreate,
    ReferralPage,
    ReferralPublic,
    WebhookCreate,
    WebhookCreated,
    WebhookPage,
    WebhookPublic,
)
from services.exchange.service import PreparedReferral, ReferralService
from services.exchange.webhooks import WebhookService
from shared.kit.db import session_scope
from shared.kit.pagination import PageRequest, Pages, pagination
from shared.kit.problems import problem_responses
from shared.protocol.auth import CurrentPrincipal, KnownPrincipal, SessionDep, confirm_token

router = APIRouter(prefix="/v1", tags=["exchange"],
                   responses=problem_responses(401, 403, 422, 503))


def referral_service(request: Request, session: SessionDep) -> ReferralService:
    return ReferralService(session, request.app.state.gateway)


Referrals = Annotated[ReferralService, Depends(referral_service)]


def alert_service(request: Request, session: SessionDep) -> AlertService:
    return AlertService(session, request.app.state.gateway)


Alerts = Annotated[AlertService, Depends(alert_service)]

T = TypeVar("T")


async def in_one_hop(request: Request, work: Callable[[Session], T],
                     before: Callable[[], object] | None = None) -> T:
    """The request's blocking part in one worker thread: `before` (what needs no database:
    directory, policy, sealing, signing), then `work` in one transaction that confirms the
    caller's token first. Commits before returning, so a client never reads ahead of it."""
    engine = request.app.state.engine

    def run() -> T:
        with Session(engine) as session:
            confirm_token(request, session)  # before any rule runs for the caller
        if before is not None:
            before()
        with session_scope(engine) as session:
            return work(session)

    return await run_in_threadpool(run)


@router.post("/referrals", response_model=ReferralAccepted, status_code=202,
             operation_id="referrals_send")
async def send_referral(
    body: ReferralCreate, principal: KnownPrincipal, request: Request,
) -> ReferralAccepted:
    """Send a referral: checked against the agreements, signed, queued for delivery."""
    gateway = request.app.state.gateway
    prepared: list[PreparedReferral] = []

    def prepare() -> None:
        # No transaction is open: the policy decision and the directory come first.
        with Session(gateway.engine) as session:
            prepared.append(ReferralService(session, gateway).prepare(principal, body))

    def store(session: Session) -> ReferralAccepted:
        referral = ReferralService(session, gateway).store(prepared[0])
        return ReferralAccepted(id=referral.id, status=referral.status)

    accepted = await in_one_hop(request, store, before=prepare)
    request.app.state.publisher.notify()
    return accepted


@router.get("/referrals", response_model=ReferralPage, operation_id="referrals_list")
def list_referrals(
    referrals: Referrals,
    principal: CurrentPrincipal,
    pages: Pages,
    direction: Literal["inbound", "outbound"] | None = None,
    status: str | None = None,
) -> ReferralPage:
    """Your institution's referrals, newest first (no personal data in the listing)."""
    after = pages.after(str)
    rows = referrals.list_referrals(principal, direction, status, pages.fetch,
                                    after[0] if after else None)
    items, next_link = pages.page(rows, lambda r: (r.id,))
    return ReferralPage(items=items, next=next_link)


@router.get("/referrals/{referral_id}", response_model=ReferralPublic,
            operation_id="referrals_get")
async def get_referral(
    referral_id: str, principal: KnownPrincipal, request: Request,
) -> ReferralPublic:
    """One referral with the child's record and, once delivered, the signed receipt."""
    gateway = request.app.state.gateway
    referral = await in_one_hop(
        request, lambda session: ReferralService(session, gateway).get(principal, referral_id))
    request.app.state.publisher.notify()
    return referral


@router.post("/referrals/{referral_id}/actions", response_model=ReferralPublic,
             operation_id="referrals_act")
async def act_on_referral(
    referral_id: str, body: ActionRequest, principal: KnownPrincipal, request: Request,
) -> ReferralPublic:
    """Move a referral along (accept, reject, start, close, withdraw) or add a follow-up note.

    The other side's gateway is told with a signed message; an action the referral's state
    does not allow is refused with 409 and the reason.
    """
    gateway = request.app.state.gateway

    def act(session: Session) -> ReferralPublic:
        referrals = ReferralService(session, gateway)
        return referrals.public(referrals.act(principal, referral_id, body))

    referral = await in_one_hop(request, act)
    request.app.state.publisher.notify()
    return referral


@router.get("/quarantine", response_model=QuarantinePage, operation_id="quarantine_list")
def list_quarantine(
    referrals: Referrals, principal: CurrentPrincipal,
    pages: Annotated[PageRequest, pagination(100, 1000)],
) -> QuarantinePage:
    """Messages this gateway refused, newest first, each with its reason (administrators and
    auditors)."""
    after = pages.after(int)
    rows, next_link = pages.page(
        referrals.quarantine(principal, pages.fetch, after[0] if after else None),
        lambda r: (r.id,))
    return QuarantinePage(
        items=[QuarantinePublic.model_validate(r) for r in rows], next=next_link,
        over_quota=[QuarantineQuotaPublic.model_validate(r)
                    for r in referrals.repo.quarantine_over_quota()],
    )


@router.post("/alerts", response_model=AlertView, status_code=202,
             operation_id="alerts_issue")
async def issue_alert(
    body: AlertCreate, principal: KnownPrincipal, request: Request,
) -> AlertView:
    """Issue a missing-child alert to chosen countries, or to every member with ["ALL"]."""
    gateway = request.app.state.gateway

    def issue(session: Session) -> AlertView:
        alerts = AlertService(session, gateway)
        return alerts.view(alerts.issue(principal, body))

    alert = await in_one_hop(request, issue)
    request.app.state.publisher.notify()
    return alert


@router.get("/alerts", response_model=AlertPage, operation_id="alerts_list")
def list_alerts(
    alerts: Alerts, principal: CurrentPrincipal, pages: Pages,
    direction: Literal["inbound", "outbound"] | None = None,
) -> AlertPage:
    """Alerts your institution issued or received, newest first."""
    rows = alerts.list_alerts(principal, direction, pages.fetch, pages.after(datetime, str))
    items, next_link = pages.page(rows, lambda a: (a.created_at, a.id))
    return AlertPage(items=items, next=next_link)


@router.get("/alerts/{alert_id}", response_model=AlertView, operation_id="alerts_get")
def get_alert(alert_id: str, alerts: Alerts, principal: CurrentPrincipal) -> AlertView:
    """One alert; for the issuer, per country: who received it and who acknowledged."""
    return alerts.get(principal, alert_id)


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertView,
             operation_id="alerts_acknowledge")
def acknowledge_alert(
    alert_id: str, body: Acknowledgement, alerts: Alerts, principal: CurrentPrincipal,
    request: Request, background: BackgroundTasks,
) -> AlertView:
    """A recipient's focal point confirms the alert reached them."""
    alert = alerts.acknowledge(principal, alert_id, body)
    background.add_task(request.app.state.publisher.notify)
    return alerts.view(alert)


@router.post("/alerts/{alert_id}/actions", response_model=AlertView,
             operation_id="alerts_change")
def change_alert(
    alert_id: str, body: AlertChange, alerts: Alerts, principal: CurrentPrincipal,
    request: Request, background: BackgroundTasks,
) -> AlertView:
    """Update or cancel (issuer), or report the child located (issuer or a recipient)."""
    alert = alerts.change(principal, alert_id, body)
    background.add_task(request.app.state.publisher.notify)
    return alerts.view(alert)


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
