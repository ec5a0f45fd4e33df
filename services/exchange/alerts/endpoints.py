"""Missing-child alerts in the gateway's HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import BackgroundTasks, Depends, Request
from sqlmodel import Session

from services.exchange.alerts.schemas import (
    Acknowledgement,
    AlertChange,
    AlertCreate,
    AlertPage,
    AlertView,
)
from services.exchange.alerts.service import AlertService
from services.exchange.api import exchange_router, gateway_service, in_one_hop
from shared.kit.pagination import Pages
from shared.protocol.auth import CurrentPrincipal, KnownPrincipal

router = exchange_router()


Alerts = Annotated[AlertService, Depends(gateway_service(AlertService))]


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
