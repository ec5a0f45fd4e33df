"""The referrals of the gateway's HTTP API for the national case system."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Request
from sqlmodel import Session

from services.exchange.api import exchange_router, gateway_service, in_one_hop
from services.exchange.referrals.schemas import (
    ActionRequest,
    ReferralAccepted,
    ReferralCreate,
    ReferralPage,
    ReferralPublic,
)
from services.exchange.referrals.service import PreparedReferral, ReferralService
from shared.kit.pagination import Pages
from shared.protocol.auth import CurrentPrincipal, KnownPrincipal

router = exchange_router()


Referrals = Annotated[ReferralService, Depends(gateway_service(ReferralService))]


@router.post("/referrals", response_model=ReferralAccepted, status_code=202,
             operation_id="referrals_send")
async def send_referral(
    body: ReferralCreate, principal: KnownPrincipal, request: Request,
) -> ReferralAccepted:
    """Send a referral: checked against the agreements, signed, queued for delivery."""
    gateway = request.app.state.gateway
    prepared: list[PreparedReferral] = []

    def prepare(session: Session) -> None:
        # No transaction of writes is open: the policy decision and the directory come first.
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
