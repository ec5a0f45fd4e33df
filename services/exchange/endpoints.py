"""Gateway HTTP API for the national case system."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request

from services.exchange.schemas import (
    ActionRequest,
    QuarantinePage,
    QuarantinePublic,
    ReferralAccepted,
    ReferralCreate,
    ReferralPage,
    ReferralPublic,
)
from services.exchange.service import ReferralService
from shared.auth import CurrentPrincipal, SessionDep

router = APIRouter(prefix="/v1", tags=["exchange"])


def referral_service(request: Request, session: SessionDep) -> ReferralService:
    return ReferralService(session, request.app.state.gateway)


Referrals = Annotated[ReferralService, Depends(referral_service)]


@router.post("/referrals", response_model=ReferralAccepted, status_code=202)
def send_referral(
    body: ReferralCreate, referrals: Referrals, principal: CurrentPrincipal,
    request: Request, background: BackgroundTasks,
) -> ReferralAccepted:
    """Send a referral: checked against the agreements, signed, queued for delivery."""
    referral = referrals.send(principal, body)
    background.add_task(request.app.state.publisher.notify)
    return ReferralAccepted(id=referral.id, status=referral.status)


@router.get("/referrals", response_model=ReferralPage)
def list_referrals(
    referrals: Referrals,
    principal: CurrentPrincipal,
    direction: Literal["inbound", "outbound"] | None = None,
    status: str | None = None,
    limit: int = Query(50, ge=1, le=500),
    before: str | None = Query(None, description="id of the last item of the previous page"),
) -> ReferralPage:
    """Your institution's referrals, newest first (no personal data in the listing)."""
    return ReferralPage(items=referrals.list_referrals(principal, direction, status, limit, before))


@router.get("/referrals/{referral_id}", response_model=ReferralPublic)
def get_referral(
    referral_id: str, referrals: Referrals, principal: CurrentPrincipal, request: Request,
    background: BackgroundTasks,
) -> ReferralPublic:
    """One referral with the child's record and, once delivered, the signed receipt."""
    referral = referrals.get(principal, referral_id)
    background.add_task(request.app.state.publisher.notify)
    return referral


@router.post("/referrals/{referral_id}/actions", response_model=ReferralPublic)
def act_on_referral(
    referral_id: str, body: ActionRequest, referrals: Referrals, principal: CurrentPrincipal,
    request: Request, background: BackgroundTasks,
) -> ReferralPublic:
    """Move a referral along (accept, reject, start, close, withdraw) or add a follow-up note.

    The other side's gateway is told with a signed message; an action the referral's state
    does not allow is refused with 409 and the reason.
    """
    referral = referrals.act(principal, referral_id, body)
    background.add_task(request.app.state.publisher.notify)
    return referrals.public(referral)


@router.get("/quarantine", response_model=QuarantinePage)
def list_quarantine(
    referrals: Referrals, principal: CurrentPrincipal, limit: int = Query(100, ge=1, le=1000)
) -> QuarantinePage:
    """Messages this gateway refused, each with its reason (administrators and auditors)."""
    rows = referrals.quarantine(principal, limit)
    return QuarantinePage(items=[QuarantinePublic.model_validate(r) for r in rows])
