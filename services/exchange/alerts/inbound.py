"""Alert messages from other gateways: an alert issued to us (or its update), a
recipient's acknowledgement or located report, and the receipt of an alert we issued
(routed here by transport/dispatcher.py, once verified)."""

from __future__ import annotations

from typing import Any

from services.exchange.alerts.models import Alert, AlertTarget
from services.exchange.alerts.repository import AlertRepository
from services.exchange.alerts.service import AUDIT_OF_CHANGE, AlertService
from services.exchange.transport.arrivals import Arrival, Rejected, peer_int, unseal
from shared.kit.db import utcnow
from shared.kit.logging import get_logger
from shared.protocol.audit_events import claimed_uuid, claimed_version
from shared.protocol.envelope import Envelope
from shared.protocol.vocabulary import AuditEventType, MessageType

log = get_logger(__name__)


def take_alert(arrival: Arrival) -> str:
    envelope = arrival.envelope
    peer_int(envelope.body.get("version", 0), "version")
    # `alert_jwe` replaced the clear `public`, `located` and `reason` of earlier gateways:
    # a message without it is of that older form, refused rather than read in part.
    if not isinstance(envelope.body.get("alert_jwe"), str):
        raise Rejected("malformed", "the alert has no alert_jwe: what it says about the "
                       "child travels sealed (protocol.md 5.4)")
    sealed = unseal(arrival.gateway, envelope.recipients[0], envelope.body.get("alert_jwe"))
    repo, outbox = AlertRepository(arrival.session), arrival.outbox
    body = envelope.body
    recipient = envelope.recipients[0]
    alert = repo.received(str(body.get("alert_id"))[:64], recipient)
    if alert is not None and alert.issuer_id != envelope.sender:
        raise Rejected("not_the_issuer", "only the issuer of an alert can change it")
    version = int(body.get("version", 0))
    if alert is not None and alert.version >= version:
        return "duplicate"
    fields: dict[str, Any] = {
        "status": str(body.get("status")), "version": version,
        "category": str(body.get("category")), "urgency": str(body.get("urgency")),
        "public": _object(sealed.get("public")), "details": _object(sealed.get("details")),
        "target_countries": list(body.get("target_countries") or []),
        "located": _object(sealed.get("located")) or None,
        "reason": str(sealed.get("reason") or "")[:2000] or None,
        "updated_at": utcnow(),
    }
    if alert is None:
        alert = Alert(id=str(body.get("alert_id")), direction="inbound",
                      issuer_id=envelope.sender, recipient_id=recipient, **fields)
        _receipt(arrival, alert)
        outbox.audit(AuditEventType.alert_received, recipient, counterpart_id=envelope.sender,
                     message_id=claimed_uuid(alert.id), message_type=envelope.type)
    else:
        was_active = alert.status == "active"
        for name, value in fields.items():
            setattr(alert, name, value)
        if was_active and alert.status != "active":
            _receipt(arrival, alert)  # the issuer learns the alert is closed here too
        outbox.audit(AUDIT_OF_CHANGE.get(str(body.get("action")), AuditEventType.alert_updated),
                     recipient, counterpart_id=envelope.sender, message_id=claimed_uuid(alert.id),
                     message_type=envelope.type, detail={"version": claimed_version(version)})
    repo.stage(alert)
    log.warning("missing_child_alert", alert_id=alert.id, action=body.get("action"),
                urgency=alert.urgency)
    return "alert"


def _receipt(arrival: Arrival, alert: Alert) -> None:
    """The receipt of an alert's first message, and of the one that closes it."""
    envelope = arrival.envelope
    arrival.outbox.send(arrival.outbox.gateway.envelope(
        type=MessageType.receipt.value, sender=envelope.recipients[0],
        recipients=[envelope.sender], purpose=envelope.purpose, in_reply_to=envelope.id,
        body={"message_id": envelope.id, "alert_id": alert.id, "version": alert.version,
              "received_at": utcnow().isoformat(), "status": "delivered"},
    ))


def take_reply(arrival: Arrival) -> str:
    """A recipient's acknowledgement or located report of an alert this gateway issued."""
    envelope = arrival.envelope
    sealed = unseal(arrival.gateway, envelope.recipients[0], envelope.body.get("details_jwe"))
    repo = AlertRepository(arrival.session)
    issued = _issued(repo, envelope)
    if issued is None:
        raise Rejected("unknown_alert", "the message names no alert issued to the sender")
    alert, target = issued
    if envelope.type == MessageType.alert_ack.value:
        if target.acknowledged_at is None:
            target.acknowledged_at = utcnow()
            target.acknowledged_by = str(sealed.get("by") or envelope.sender)[:200]
            repo.stage(target)
            arrival.outbox.audit(AuditEventType.alert_acknowledged, alert.issuer_id,
                                 counterpart_id=envelope.sender, message_id=alert.id,
                                 message_type=envelope.type)
        return "alert-ack"
    if alert.status == "active":
        located = {"where": str(sealed.get("where", ""))[:500],
                   "measures": str(sealed.get("measures") or "")[:2000] or None,
                   "by": envelope.sender, "at": str(envelope.body.get("at", ""))[:40]}
        AlertService(arrival.session, arrival.gateway).close(alert, "located", located=located)
    return "alert-located"


def take_receipt(arrival: Arrival) -> str | None:
    """None when the receipt names no target of an alert this gateway issued."""
    repo, envelope = AlertRepository(arrival.session), arrival.envelope
    target = repo.target(str(envelope.body.get("alert_id"))[:64], envelope.sender)
    if target is None:
        return None
    alert = repo.issued(target.alert_id)
    closing = alert is not None and alert.status != "active" and \
        peer_int(envelope.body.get("version", 1), "version") >= alert.version
    if target.received_at is None:
        target.received_at = utcnow()
    if closing and target.closed_received_at is None:
        target.closed_received_at = utcnow()
    repo.stage(target)
    return "alert-receipt"


def _issued(repo: AlertRepository, envelope: Envelope) -> tuple[Alert, AlertTarget] | None:
    alert_id = str(envelope.body.get("alert_id"))
    alert = repo.issued(alert_id)
    target = repo.target(alert_id, envelope.sender)
    if alert is None or target is None or alert.issuer_id != envelope.recipients[0]:
        return None
    return alert, target


def _object(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}
