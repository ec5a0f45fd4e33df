"""Gateway rules for the national case system: send referrals, read them, move them along."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session

from services.exchange.clients.directory import UnknownInstitution
from services.exchange.figures.facts import record_sent
from services.exchange.gateway import Gateway
from services.exchange.referrals.lifecycle import (
    RULES,
    Action,
    add_event,
    allowed,
    events_of,
    first_status,
    machine_status,
    next_clock,
    refusal,
    side_of,
)
from services.exchange.referrals.models import Referral, ReferralEvent
from services.exchange.referrals.repository import ReferralRepository
from services.exchange.referrals.schemas import (
    ActionRequest,
    HistoryItem,
    ReceiptPublic,
    ReferralCreate,
    ReferralPublic,
    ReferralSummary,
    categories_of,
    without_categories,
)
from services.exchange.transport.outbox import Outbox
from shared.kit.db import session_scope, utcnow
from shared.kit.errors import Conflict, Forbidden, NotFound, Unprocessable
from shared.kit.logging import get_logger
from shared.kit.pagination import invalid_cursor
from shared.protocol.audit_events import claimed_uuid, reason_code
from shared.protocol.auth import Principal, Role, require_role
from shared.protocol.envelope import Envelope, digest, unverified_parts
from shared.protocol.vocabulary import AuditEventType, MessageType

log = get_logger(__name__)

AUDIT_OF_ACTION = {
    Action.accept: AuditEventType.accepted,
    Action.reject: AuditEventType.rejected,
    Action.start: AuditEventType.started,
    Action.close: AuditEventType.closed,
    Action.withdraw: AuditEventType.withdrawn,
    Action.note: AuditEventType.follow_up,
}


class PolicyDenied(Forbidden):
    code = "policy_denied"
    title = "Not allowed by any agreement"


@dataclass(frozen=True)
class PreparedReferral:
    """A referral ready to be stored: checked, allowed, sealed and signed."""

    envelope: Envelope
    token: str
    country: str
    case_reference: str
    record: dict[str, Any]
    withheld: list[str]


def counterpart_of(referral: Referral) -> str:
    return referral.recipient_id if referral.direction == "outbound" else referral.sender_id


def local_party(referral: Referral) -> str:
    return referral.sender_id if referral.direction == "outbound" else referral.recipient_id


def _receipt_public(referral: Referral) -> ReceiptPublic | None:
    if referral.receipt is None:
        return None
    header, payload = unverified_parts(referral.receipt)
    return ReceiptPublic(
        jws=referral.receipt,
        signed_by=payload["sender"],
        kid=header["kid"],
        received_at=datetime.fromisoformat(payload["body"]["received_at"]),
        message_digest=payload["body"]["message_digest"],
    )


class ReferralService:
    """What a national case system does through the REST API."""

    def __init__(self, session: Session, gateway: Gateway) -> None:
        self.repo = ReferralRepository(session)
        self.gateway = gateway
        self.outbox = Outbox(session, gateway)

    def _local_caseworker(self, principal: Principal) -> None:
        require_role(principal, Role.caseworker)
        if not self.gateway.hosts(principal.institution_id):
            raise Forbidden("This institution is not hosted by this gateway.",
                            code="institution_not_hosted")

    def require_local_caseworker(self, principal: Principal) -> None:
        """What every referral operation checks first (the console, before showing a form)."""
        self._local_caseworker(principal)

    # Sending --------------------------------------------------------------------------

    def send(self, principal: Principal, data: ReferralCreate) -> Referral:
        return self.store(self.prepare(principal, data))

    def prepare(self, principal: Principal, data: ReferralCreate) -> PreparedReferral:
        """All of sending that needs no database: the checks, the recipient from the
        directory's snapshot (looked up once), the policy decision, the sealed record and the
        signed envelope. Called before the request's transaction opens (a denial is recorded
        in a transaction of its own)."""
        self._local_caseworker(principal)
        sender = principal.institution_id
        try:
            recipient = self.gateway.directory.institution(data.recipient_id)
        except UnknownInstitution as exc:
            raise Unprocessable("The recipient institution is not in the directory.",
                                code="unknown_recipient") from exc
        if recipient["id"] == sender:
            raise Unprocessable("An institution cannot refer to itself.", code="self_referral")
        record = data.record.model_dump(mode="json", exclude_none=True)
        decision = self.gateway.registry.decide(sender, {
            "sender": sender,
            "recipient": recipient["id"],
            "message_type": MessageType.referral.value,
            "purpose": data.purpose.value,
            "data_categories": categories_of(record),
            "case_reference": data.case_reference,
        })
        if decision["decision"] != "allow":
            self._record_denial(sender, recipient["id"], data.case_reference, decision)
            raise PolicyDenied(
                "No active agreement allows this referral.", reasons=decision["reasons"]
            )
        withheld = decision["withheld_categories"]
        record = without_categories(record, withheld)
        envelope = self.gateway.envelope(
            type=MessageType.referral.value,
            sender=sender,
            recipients=[recipient["id"]],
            agreement=decision["agreement_id"],
            purpose=data.purpose.value,
            categories=categories_of(record),
            body={"case_reference": data.case_reference,
                  "record_jwe": self.gateway.seal_for(recipient["id"], record)},
        )
        _, token, country = self.outbox.signed(envelope, country=recipient["country"])
        return PreparedReferral(envelope, token, country, data.case_reference, record, withheld)

    def store(self, prepared: PreparedReferral) -> Referral:
        """The referral, its message and its audit event, in the request's transaction."""
        envelope = prepared.envelope
        recipient_id = envelope.recipients[0]
        referral = Referral(
            id=envelope.id, direction="outbound", sender_id=envelope.sender,
            recipient_id=recipient_id, status=first_status("outbound").value,
            case_reference=prepared.case_reference, purpose=envelope.purpose or "",
            agreement_id=envelope.agreement or "", categories=envelope.categories,
            record=prepared.record, envelope=prepared.token,
            envelope_digest=digest(prepared.token),
        )
        self.repo.insert(referral)  # written once here: no unit of work to track it
        record_sent(self.repo.session, referral, self.gateway.country, prepared.country)
        self.outbox.queue(envelope, prepared.token, prepared.country, referral_id=referral.id)
        self.outbox.audit(
            AuditEventType.sent, envelope.sender, counterpart_id=recipient_id,
            message_id=envelope.id, message_type=envelope.type,
            case_reference=prepared.case_reference, agreement_id=envelope.agreement,
            detail={"categories": envelope.categories,
                    "withheld_categories": prepared.withheld},
        )
        log.info("referral_queued", referral_id=referral.id, recipient=recipient_id)
        return referral

    def _record_denial(
        self, sender: str, recipient: str, case_reference: str, decision: dict[str, Any]
    ) -> None:
        # Its own transaction: the request fails, the record of the denial must not.
        with session_scope(self.gateway.engine) as session:
            Outbox(session, self.gateway).audit(
                AuditEventType.denied, sender, counterpart_id=recipient,
                message_type=MessageType.referral.value, case_reference=case_reference,
                detail={"reasons": [reason_code(r["code"]) for r in decision["reasons"]]},
            )

    # Reading --------------------------------------------------------------------------

    def _visible(self, principal: Principal, referral_id: str,
                 code: str = "referral_not_found") -> Referral:
        self._local_caseworker(principal)
        referral = self.repo.referral_of(referral_id, principal.institution_id)
        if referral is None:
            raise NotFound("No referral with this id is visible to you.", code=code)
        return referral

    def get(self, principal: Principal, referral_id: str) -> ReferralPublic:
        referral = self._visible(principal, referral_id)
        self.outbox.audit(
            AuditEventType.record_read, principal.institution_id,
            counterpart_id=counterpart_of(referral), message_id=claimed_uuid(referral.id),
            message_type=MessageType.referral.value, case_reference=referral.case_reference,
            agreement_id=referral.agreement_id or None, detail={"role": principal.role.value},
        )
        return self.public(referral)

    def public(self, referral: Referral) -> ReferralPublic:
        summary = ReferralSummary.model_validate(referral)
        history = [HistoryItem.model_validate(row) for row in self.repo.events(referral)]
        return ReferralPublic(**summary.model_dump(), record=referral.record,
                              receipt=_receipt_public(referral), history=history)

    def list_referrals(
        self, principal: Principal, direction: str | None, status: str | None, limit: int,
        before: str | None,
    ) -> list[ReferralSummary]:
        self._local_caseworker(principal)
        if before is not None and self.repo.referral_of(before, principal.institution_id) is None:
            raise invalid_cursor()
        rows = self.repo.referrals_of([principal.institution_id], direction, status, limit, before)
        return [ReferralSummary.model_validate(r) for r in rows]

    # Moving along ---------------------------------------------------------------------

    def act(self, principal: Principal, referral_id: str, request: ActionRequest) -> Referral:
        """Accept, reject, start, close, withdraw or add a note; tell the other side."""
        referral = self._visible(principal, referral_id)
        action, side = Action(request.action), side_of(referral.direction)
        status = machine_status(referral.status)
        if not allowed(status, action, side):
            raise Conflict(refusal(status, action, side).capitalize() + ".",
                           code="illegal_transition", status_now=referral.status)
        needed = RULES[action].needs
        if needed and not getattr(request, needed):
            raise Unprocessable(f"To {action.value} a referral, give a {needed}.",
                                code=f"{needed}_required")
        clock = next_clock(events_of(self.repo.events(referral)))
        at = utcnow()
        details = {k: v for k, v in (("reason", request.reason), ("outcome", request.outcome),
                                     ("note", request.note)) if v}
        envelope = self.gateway.envelope(
            type=MessageType.referral_update.value,
            sender=principal.institution_id,
            recipients=[counterpart_of(referral)],
            agreement=referral.agreement_id,
            purpose=referral.purpose,
            in_reply_to=referral.id,
            body={"referral_id": referral.id, "action": action.value, "clock": clock,
                  "at": at.isoformat(),
                  "details_jwe": self.gateway.seal_for(counterpart_of(referral), details)},
        )
        self.outbox.send(envelope)
        # Signed before the first write, so the database's writer is held for less.
        self.outbox.audit(
            AUDIT_OF_ACTION[action], principal.institution_id,
            counterpart_id=counterpart_of(referral), message_id=envelope.id,
            message_type=envelope.type, case_reference=referral.case_reference,
            agreement_id=referral.agreement_id or None,
            detail={"referral_id": claimed_uuid(referral.id), "by": principal.institution_id},
        )
        add_event(self.repo, referral, ReferralEvent(
            id=envelope.id, referral_id=referral.id, action=action.value, side=side.value,
            actor_id=principal.institution_id, clock=clock, at=at, **details,
        ))
        log.info("referral_action", referral_id=referral.id, action=action.value)
        return referral
