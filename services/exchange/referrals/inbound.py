"""Referral messages from the other side: the referral itself, its receipt, its updates
and a refusal of it (routed here by transport/dispatcher.py, once verified)."""

from __future__ import annotations

from typing import Any

from services.exchange.referrals.lifecycle import (
    DELIVERY_CLOCK,
    RULES,
    Action,
    Side,
    add_event,
    first_status,
)
from services.exchange.referrals.models import Referral, ReferralEvent
from services.exchange.referrals.repository import ReferralRepository
from services.exchange.referrals.service import AUDIT_OF_ACTION, counterpart_of, local_party
from services.exchange.transport.arrivals import (
    Arrival,
    NotYet,
    Rejected,
    check_policy,
    moment,
    peer_int,
    unseal,
)
from shared.kit.db import utcnow
from shared.kit.logging import get_logger
from shared.protocol.audit_events import claimed_message_type, claimed_uuid, reason_code
from shared.protocol.envelope import digest
from shared.protocol.vocabulary import AuditEventType, MessageType

log = get_logger(__name__)


def take_referral(arrival: Arrival) -> str:
    repo, outbox = ReferralRepository(arrival.session), arrival.outbox
    envelope, token = arrival.envelope, arrival.token
    existing = repo.referral(envelope.id, "inbound")
    if existing is not None:
        if existing.envelope_digest == digest(token):
            return "duplicate"
        raise Rejected("replayed_message_id", "another message used this id before")
    recipient = envelope.recipients[0]
    case_reference = str(envelope.body.get("case_reference", ""))
    check_policy(arrival.gateway, envelope, recipient, case_reference)
    record = unseal(arrival.gateway, recipient, envelope.body.get("record_jwe"))
    referral = Referral(
        id=envelope.id, direction="inbound", sender_id=envelope.sender,
        recipient_id=recipient, status=first_status("inbound").value,
        case_reference=case_reference,
        purpose=envelope.purpose or "", agreement_id=envelope.agreement or "",
        categories=envelope.categories, record=record,
        envelope=token, envelope_digest=digest(token),
    )
    repo.session.add(referral)  # inserted with its first state, at the commit
    now = utcnow()
    receipt = arrival.gateway.envelope(
        type=MessageType.receipt.value,
        sender=recipient,
        recipients=[envelope.sender],
        agreement=envelope.agreement,
        purpose=envelope.purpose,
        in_reply_to=envelope.id,
        body={
            "message_id": envelope.id,
            "message_digest": digest(token),
            "received_at": now.isoformat(),
            "status": "delivered",
            "clock": DELIVERY_CLOCK,
        },
    )
    outbox.send(receipt)
    add_event(repo, referral, ReferralEvent(
        id=receipt.id, referral_id=referral.id, action=Action.deliver.value,
        side=Side.recipient.value, actor_id=recipient, clock=DELIVERY_CLOCK, at=now,
    ), new_referral=True)
    outbox.audit(
        AuditEventType.received, recipient, counterpart_id=envelope.sender,
        message_id=claimed_uuid(envelope.id), message_type=envelope.type,
        case_reference=case_reference,
        agreement_id=envelope.agreement, detail={"categories": envelope.categories},
    )
    log.info("referral_received", referral_id=envelope.id, sender=envelope.sender)
    return "stored"


def take_receipt(arrival: Arrival) -> str | None:
    """None when the receipt names no referral this gateway sent (it may be an alert's)."""
    repo, outbox, envelope = ReferralRepository(arrival.session), arrival.outbox, arrival.envelope
    referral = repo.referral(str(envelope.body.get("message_id", "")), "outbound")
    if referral is None:
        return None
    if (
        referral.direction != "outbound"
        or referral.recipient_id != envelope.sender
        or envelope.body.get("message_digest") != referral.envelope_digest
    ):
        raise Rejected("receipt_mismatch", "the receipt matches no message this gateway sent")
    if referral.receipt is not None:
        return "duplicate"
    step = ReferralEvent(
        id=envelope.id, referral_id=referral.id, action=Action.deliver.value,
        side=Side.recipient.value, actor_id=envelope.sender,
        clock=peer_int(envelope.body.get("clock", DELIVERY_CLOCK), "clock"),
        at=moment(envelope.body.get("received_at")),
    )
    # Signed before the first write, so the database's writer is held for less.
    outbox.audit(
        AuditEventType.receipt, referral.sender_id, counterpart_id=envelope.sender,
        message_id=referral.id, message_type=MessageType.referral.value,
        case_reference=referral.case_reference, agreement_id=referral.agreement_id or None,
        detail={"receipt_id": claimed_uuid(envelope.id)},
    )
    referral.receipt = arrival.token
    referral.sent_at = referral.sent_at or utcnow()
    add_event(repo, referral, step)
    log.info("referral_delivered", referral_id=referral.id)
    return "receipt"


def take_update(arrival: Arrival) -> str:
    repo, outbox, envelope = ReferralRepository(arrival.session), arrival.outbox, arrival.envelope
    body = envelope.body
    referral = repo.referral_of(str(body.get("referral_id", "")), envelope.recipients[0])
    unknown = Rejected("unknown_referral", "the update names no referral shared with sender")
    if referral is None:
        raise NotYet(unknown)  # its referral may still be on the way
    if (counterpart_of(referral) != envelope.sender
            or local_party(referral) != envelope.recipients[0]):
        raise unknown
    if repo.event(envelope.id, referral) is not None:
        return "duplicate"
    try:
        action = Action(str(body.get("action")))
        clock = peer_int(body["clock"], "clock")
        at = moment(body["at"])
    except (ValueError, KeyError, TypeError) as exc:
        raise Rejected("malformed", "the update's action or clock is not valid") from exc
    side = Side.sender if envelope.sender == referral.sender_id else Side.recipient
    rule = RULES[action]
    if action in (Action.deliver, Action.refuse) or (rule.side is not None
                                                     and rule.side != side):
        raise Rejected("action_not_allowed", f"the {side.value} cannot {action.value}")
    sealed = unseal(arrival.gateway, local_party(referral), body.get("details_jwe"))
    limits = {"reason": 2000, "outcome": 2000, "note": 4000}
    details: dict[str, Any] = {k: str(sealed[k])[:limit]
                               for k, limit in limits.items() if sealed.get(k)}
    # Signed before the first write, so the database's writer is held for less.
    outbox.audit(
        AUDIT_OF_ACTION[action], local_party(referral), counterpart_id=envelope.sender,
        message_id=claimed_uuid(envelope.id), message_type=envelope.type,
        case_reference=referral.case_reference, agreement_id=referral.agreement_id or None,
        detail={"referral_id": claimed_uuid(referral.id), "by": envelope.sender},
    )
    add_event(repo, referral, ReferralEvent(
        id=envelope.id, referral_id=referral.id, action=action.value, side=side.value,
        actor_id=envelope.sender, clock=clock, at=at, **details,
    ))
    return "update"


def take_rejection(arrival: Arrival) -> str:
    repo, outbox, envelope = ReferralRepository(arrival.session), arrival.outbox, arrival.envelope
    body = envelope.body
    message_id = str(body.get("message_id", ""))[:64]
    reason = f"{body.get('reason')}: {str(body.get('detail', ''))[:1500]}"
    referral = repo.referral(message_id, "outbound")
    # Only a message that never arrived becomes undeliverable; a notice about a copy of
    # a delivered referral (a replay, say) changes nothing.
    ours = (referral is not None and referral.direction == "outbound"
            and referral.recipient_id == envelope.sender and referral.receipt is None)
    if referral is not None and ours and repo.event(envelope.id, referral) is None:
        add_event(repo, referral, ReferralEvent(
            id=envelope.id, referral_id=referral.id, action=Action.refuse.value,
            side=Side.recipient.value, actor_id=envelope.sender,
            clock=DELIVERY_CLOCK, at=utcnow(), reason=reason,
        ))
    outbox.audit(
        AuditEventType.refused, envelope.recipients[0], counterpart_id=envelope.sender,
        message_id=claimed_uuid(message_id),
        message_type=claimed_message_type(body.get("message_type")),
        case_reference=referral.case_reference if referral else None,
        detail={"reason": reason_code(body.get("reason"))},
    )
    log.warning("message_refused_by_peer", message_id=message_id,
                reason=str(body.get("reason", ""))[:100])
    return "rejection"
