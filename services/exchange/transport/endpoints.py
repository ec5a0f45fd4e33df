"""The quarantine in the gateway's HTTP API: messages this gateway refused."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from services.exchange.api import exchange_router, gateway_service
from services.exchange.transport.quarantine import QuarantineService
from services.exchange.transport.schemas import (
    QuarantinePage,
    QuarantinePublic,
    QuarantineQuotaPublic,
)
from shared.kit.pagination import PageRequest, pagination
from shared.protocol.auth import CurrentPrincipal

router = exchange_router()


Quarantine = Annotated[QuarantineService, Depends(gateway_service(QuarantineService))]


@router.get("/quarantine", response_model=QuarantinePage, operation_id="quarantine_list")
def list_quarantine(
    quarantine: Quarantine, principal: CurrentPrincipal,
    pages: Annotated[PageRequest, pagination(100, 1000)],
) -> QuarantinePage:
    """Messages this gateway refused, newest first, each with its reason (administrators and
    auditors)."""
    after = pages.after(int)
    rows, next_link = pages.page(
        quarantine.entries(principal, pages.fetch, after[0] if after else None),
        lambda r: (r.id,))
    return QuarantinePage(
        items=[QuarantinePublic.model_validate(r) for r in rows], next=next_link,
        over_quota=[QuarantineQuotaPublic.model_validate(r)
                    for r in quarantine.over_quota()],
    )
