"""Missing-child alerts: issued to chosen countries or every member, acknowledged by each
country's focal points, updated, located, cancelled (what comes from other gateways is
in alerts/inbound.py, the escalation of silent countries in alerts/jobs.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Session

from services.exchange.alerts.models import Alert, AlertTarget
from services.exchange.alerts.repository import AlertRepository
from services.exchange.alerts.schemas import (
    Acknowledgement,
    AlertChange,
    AlertCreate,
    AlertTargetPublic,
    AlertView,
)
from services.exchange.gateway import Gateway
from services.exchange.transport.outbox import Outbox
from shared.kit.db import utcnow
from shared.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.kit.logging import get_logger
from shared.protocol.auth import Principal, Role, require_role
from shared.protocol.vocabulary import AuditEventType, MessageType

log = get_logger(__name__)

ALL_MEMBERS = "ALL"
AUDIT_OF_CHANGE = {"located": AuditEventType.alert_located,
                   "cancel": AuditEventType.alert_cancelled}
ALERT_COMPETENCE = "missing-child-alerts"


class AlertService:
    def __init__(self, session: Session, gateway: Gateway) -> None:
        self.repo = AlertRepository(session)
        self.gateway = gateway
        self.outbox = Outbox(session, gateway)

    # Routing through the directory's snapshot (so alerts go out while it is down) ------

    def _countries(self, requested: list[str]) -> list[str]:
        codes = {c["code"]: c for c in self.gateway.directory.countries()}
        if [c.upper() for c in requested] == [ALL_MEMBERS]:
            return sorted(code for code, c in codes.items() if c.get("crm_member"))
        unknown = sorted({c.upper() for c in requested} - codes.keys())
        if unknown:
            raise Unprocessable(f"Unknown countries: {', '.join(unknown)}.",
                                code="unknown_country")
        return sorted({c.upper() for c in requested})

    def _alert_desks(self, country: str) -> list[str]:
        """Institutions of a country that take missing-child alerts through a gateway."""
        return sorted(i["id"] for i in self.gateway.directory.institutions_of(country)
                      if ALERT_COMPETENCE in i.get("competences", []) and i.get("gateway_country"))

    # Issuer's side ---------------------------------------------------------------------

    def _local(self, principal: Principal) -> None:
        require_role(principal, Role.caseworker)
        if not self.gateway.hosts(principal.institution_id):
            raise Forbidden("This institution is not hosted by this gateway.",
                            code="institution_not_hosted")

    def issue(self, principal: Principal, data: AlertCreate) -> Alert:
        self._local(principal)
        countries = self._countries(data.target_countries)
        alert = Alert(
            id=str(uuid.uuid4()),
            direction="outbound", issuer_id=principal.institution_id, status="active",
            category=data.category.value, urgency=data.urgency,
            public=data.public.model_dump(mode="json", exclude_none=True),
            details=data.details.model_dump(mode="json", exclude_none=True),
            target_countries=countries,
        )
        targets: list[AlertTarget] = []
        for country in countries:
            desks = [d for d in self._alert_desks(country) if d != alert.issuer_id]
            if not desks:
                targets.append(AlertTarget(alert_id=alert.id, country=country))
            targets.extend(AlertTarget(alert_id=alert.id, country=country, recipient_id=desk)
                           for desk in desks)
        # Sealed and signed for every desk before anything is written (the database's
        # writer is then held only for the inserts, at the commit).
        self._broadcast(alert, "issue", targets)
        self.repo.stage(alert)
        for target in targets:
            self.repo.stage(target)
        self.outbox.audit(AuditEventType.alert_issued, alert.issuer_id, message_id=alert.id,
                          message_type=MessageType.alert.value,
                          detail={"countries": countries, "category": alert.category})
        return alert

    def _broadcast(self, alert: Alert, action: str,
                   targets: list[AlertTarget] | None = None) -> None:
        """The alert's current state to every recipient: routing fields in clear, all that
        describes the child or a place sealed for each (the public part is public to the
        focal points, not to the wire). A recipient without an encryption key gets nothing
        and escalates."""
        sealed = {"public": alert.public, "details": alert.details, "located": alert.located,
                  "reason": alert.reason}
        for target in self.repo.targets(alert.id) if targets is None else targets:
            if target.recipient_id is None:
                continue
            try:
                alert_jwe = self.gateway.seal_for(target.recipient_id, sealed)
            except Unprocessable:
                log.warning("alert_recipient_cannot_decrypt", alert_id=alert.id,
                            recipient=target.recipient_id)
                continue
            envelope = self.gateway.envelope(
                type=MessageType.alert.value, sender=alert.issuer_id,
                recipients=[target.recipient_id], purpose="missing-child-search",
                body={"alert_id": alert.id, "version": alert.version, "action": action,
                      "status": alert.status, "category": alert.category,
                      "urgency": alert.urgency, "target_countries": alert.target_countries,
                      "alert_jwe": alert_jwe},
            )
            self.outbox.send(envelope)
            if action == "issue":
                target.message_id = envelope.id
                if targets is None:
                    self.repo.stage(target)

    def change(self, principal: Principal, alert_id: str, change: AlertChange) -> Alert:
        """The issuer updates, reports located, or cancels; a recipient reports located."""
        alert = self._visible(principal, alert_id)
        if alert.status != "active":
            raise Conflict(f"The alert is {alert.status}; it cannot change any more.",
                           code="alert_closed", status_now=alert.status)
        if change.action == "located":
            if not change.where:
                raise Unprocessable("Say where the child was located.", code="where_required")
            located = {"where": change.where, "measures": change.measures,
                       "by": principal.institution_id, "at": utcnow().isoformat()}
            if alert.direction == "inbound":
                self._report_located(alert, located)
                return alert
            self.close(alert, "located", located=located)
            return alert
        if alert.direction != "outbound":
            raise Forbidden("Only the issuing institution can update or cancel an alert.",
                            code="not_the_issuer")
        if change.action == "cancel":
            if not change.reason:
                raise Unprocessable("Give the reason for cancelling.", code="reason_required")
            self.close(alert, "cancelled", reason=change.reason)
            return alert
        if change.public is None and change.details is None:
            raise Unprocessable("An update changes public or details.", code="nothing_to_update")
        if change.public is not None:
            alert.public = change.public.model_dump(mode="json", exclude_none=True)
        if change.details is not None:
            alert.details = change.details.model_dump(mode="json", exclude_none=True)
        alert.version += 1
        alert.updated_at = utcnow()
        self.repo.stage(alert)
        self._broadcast(alert, "update")
        self.outbox.audit(AuditEventType.alert_updated, alert.issuer_id, message_id=alert.id,
                          message_type=MessageType.alert.value, detail={"version": alert.version})
        return alert

    def close(self, alert: Alert, status: str, *, located: dict[str, Any] | None = None,
               reason: str | None = None) -> None:
        alert.status, alert.located, alert.reason = status, located, reason
        alert.version += 1
        alert.updated_at = utcnow()
        if status == "located":
            alert.located_at = alert.updated_at
        self.repo.stage(alert)
        self._broadcast(alert, "located" if status == "located" else "cancel")
        event = (AuditEventType.alert_located if status == "located"
                 else AuditEventType.alert_cancelled)
        self.outbox.audit(event, alert.issuer_id, message_id=alert.id,
                          message_type=MessageType.alert.value, detail={"version": alert.version})

    # Recipient's side -----------------------------------------------------------------

    def acknowledge(self, principal: Principal, alert_id: str, ack: Acknowledgement) -> Alert:
        alert = self._visible(principal, alert_id)
        if alert.direction != "inbound":
            raise Conflict("Only a recipient acknowledges an alert.", code="not_a_recipient")
        if alert.acknowledged_at is None:
            alert.acknowledged_at, alert.acknowledged_by = utcnow(), ack.by
            self.repo.stage(alert)
            self.outbox.send(self.gateway.envelope(
                type=MessageType.alert_ack.value, sender=principal.institution_id,
                recipients=[alert.issuer_id], purpose="missing-child-search",
                in_reply_to=alert.id,
                body={"alert_id": alert.id, "at": alert.acknowledged_at.isoformat(),
                      "details_jwe": self.gateway.seal_for(alert.issuer_id, {"by": ack.by})},
            ))
            self.outbox.audit(AuditEventType.alert_acknowledged, principal.institution_id,
                              counterpart_id=alert.issuer_id, message_id=alert.id,
                              message_type=MessageType.alert_ack.value)
        return alert

    def _report_located(self, alert: Alert, located: dict[str, Any]) -> None:
        assert alert.recipient_id is not None
        self.outbox.send(self.gateway.envelope(
            type=MessageType.alert_located.value, sender=alert.recipient_id,
            recipients=[alert.issuer_id], purpose="missing-child-search", in_reply_to=alert.id,
            body={"alert_id": alert.id, "at": located["at"],
                  "details_jwe": self.gateway.seal_for(alert.issuer_id, {
                      "where": located["where"], "measures": located["measures"]})},
        ))
        self.outbox.audit(AuditEventType.alert_located, alert.recipient_id,
                          counterpart_id=alert.issuer_id, message_id=alert.id,
                          message_type=MessageType.alert_located.value)

    # Reading --------------------------------------------------------------------------

    def _visible(self, principal: Principal, alert_id: str) -> Alert:
        self._local(principal)
        alert = self.repo.visible(alert_id, principal.institution_id)
        if alert is None:
            raise NotFound("No alert with this id is visible to you.", code="alert_not_found")
        return alert

    def view(self, alert: Alert) -> AlertView:
        targets = self.repo.targets(alert.id) if alert.direction == "outbound" else []
        return AlertView.model_validate(alert).model_copy(
            update={"targets": [AlertTargetPublic.model_validate(t) for t in targets]})

    def get(self, principal: Principal, alert_id: str) -> AlertView:
        return self.view(self._visible(principal, alert_id))

    def list_alerts(self, principal: Principal, direction: str | None, limit: int = 200,
                    after: tuple[datetime, str] | None = None) -> list[AlertView]:
        """Newest first; `after`: the (created_at, id) of the previous page's last alert."""
        self._local(principal)
        rows = self.repo.visible_page(principal.institution_id, direction, limit, after)
        return [self.view(a) for a in rows]
