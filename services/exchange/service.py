"""Gateway rules: send referrals, take in messages from other gateways, keep the audit fed."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from joserfc.jwk import OKPKey
from sqlalchemy import Engine
from sqlmodel import Session

from services.exchange.directory_client import DirectoryClient, UnknownInstitution
from services.exchange.models import OutboxMessage, QuarantinedMessage, Referral
from services.exchange.registry_client import PolicyQuestionRefused, RegistryClient
from services.exchange.repository import GatewayRepository
from services.exchange.schemas import (
    ReceiptPublic,
    ReferralCreate,
    ReferralPublic,
    ReferralSummary,
    categories_of,
    without_categories,
)
from shared.auth import Principal, Role, require_role
from shared.db import session_scope, utcnow
from shared.envelope import (
    Envelope,
    EnvelopeError,
    digest,
    sign_envelope,
    unverified_parts,
    verify_envelope,
)
from shared.errors import Forbidden, NotFound, Unprocessable
from shared.logging import current_correlation_id, get_logger
from shared.messaging import SENDER_HEADER, TYPE_HEADER, audit_subject, message_subject
from shared.vocabulary import AuditEventType, MessageType

log = get_logger(__name__)


class PolicyDenied(Forbidden):
    code = "policy_denied"
    title = "Not allowed by any agreement"


@dataclass
class Gateway:
    """Everything a gateway's rules need, built once at start-up."""

    country: str
    engine: Engine
    keys: dict[str, OKPKey]
    directory: DirectoryClient
    registry: RegistryClient
    message_ttl_seconds: int

    def hosts(self, institution_id: str) -> bool:
        return institution_id in self.keys


class Outbox:
    """Messages and audit events written with the change they announce."""

    def __init__(self, repo: GatewayRepository, gateway: Gateway) -> None:
        self.repo = repo
        self.gateway = gateway

    def message(self, envelope: Envelope, token: str, recipient_country: str,
                referral_id: str | None = None) -> None:
        headers = {
            "Nats-Msg-Id": envelope.id,
            TYPE_HEADER: envelope.type,
            SENDER_HEADER: envelope.sender,
        }
        cid = current_correlation_id()
        if cid:
            headers["Enlace-Correlation-Id"] = cid
        subject = message_subject(recipient_country, envelope.recipients[0], envelope.type)
        self.repo.add(OutboxMessage(msg_id=envelope.id, subject=subject, headers=headers,
                                    payload=token, referral_id=referral_id))

    def audit(self, event_type: AuditEventType, institution_id: str, **fields: Any) -> None:
        event_id = str(uuid.uuid4())
        event = {
            "event_id": event_id,
            "event_type": event_type.value,
            "occurred_at": utcnow().isoformat(),
            "institution_id": institution_id,
            **fields,
        }
        headers = {"Nats-Msg-Id": event_id}
        cid = current_correlation_id()
        if cid:
            headers["Enlace-Correlation-Id"] = cid
        self.repo.add(OutboxMessage(msg_id=event_id, subject=audit_subject(self.gateway.country),
                                    headers=headers, payload=json.dumps(event)))


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
        self.repo = GatewayRepository(session)
        self.gateway = gateway
        self.outbox = Outbox(self.repo, gateway)

    def _local_caseworker(self, principal: Principal) -> None:
        require_role(principal, Role.caseworker)
        if not self.gateway.hosts(principal.institution_id):
            raise Forbidden("This institution is not hosted by this gateway.",
                            code="institution_not_hosted")

    def send(self, principal: Principal, data: ReferralCreate) -> Referral:
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
        envelope = Envelope.new(
            ttl_seconds=self.gateway.message_ttl_seconds,
            type=MessageType.referral.value,
            sender=sender,
            recipients=[recipient["id"]],
            agreement=decision["agreement_id"],
            purpose=data.purpose.value,
            categories=categories_of(record),
            body={"case_reference": data.case_reference, "record": record},
        )
        token = sign_envelope(envelope, self.gateway.keys[sender])
        referral = Referral(
            id=envelope.id, direction="outbound", sender_id=sender, recipient_id=recipient["id"],
            status="queued", case_reference=data.case_reference, purpose=data.purpose.value,
            agreement_id=decision["agreement_id"], categories=envelope.categories, record=record,
            envelope=token, envelope_digest=digest(token),
        )
        self.repo.add(referral)
        self.outbox.message(envelope, token, recipient["country"], referral_id=referral.id)
        self.outbox.audit(
            AuditEventType.sent, sender, counterpart_id=recipient["id"], message_id=envelope.id,
            message_type=envelope.type, case_reference=data.case_reference,
            agreement_id=envelope.agreement,
            detail={"categories": envelope.categories, "withheld_categories": withheld},
        )
        log.info("referral_queued", referral_id=referral.id, recipient=recipient["id"])
        return referral

    def _record_denial(
        self, sender: str, recipient: str, case_reference: str, decision: dict[str, Any]
    ) -> None:
        # Its own transaction: the request fails, the record of the denial must not.
        with session_scope(self.gateway.engine) as session:
            Outbox(GatewayRepository(session), self.gateway).audit(
                AuditEventType.denied, sender, counterpart_id=recipient,
                message_type=MessageType.referral.value, case_reference=case_reference,
                detail={"reasons": [r["code"] for r in decision["reasons"]]},
            )

    def _visible(self, principal: Principal, referral: Referral | None) -> Referral:
        owner = (
            referral.sender_id if referral and referral.direction == "outbound"
            else referral.recipient_id if referral else None
        )
        if referral is None or owner != principal.institution_id:
            raise NotFound("No referral with this id is visible to you.",
                           code="referral_not_found")
        return referral

    def get(self, principal: Principal, referral_id: str) -> ReferralPublic:
        self._local_caseworker(principal)
        referral = self._visible(principal, self.repo.referral(referral_id))
        counterpart = (referral.recipient_id if referral.direction == "outbound"
                       else referral.sender_id)
        self.outbox.audit(
            AuditEventType.record_read, principal.institution_id, counterpart_id=counterpart,
            message_id=referral.id, message_type=MessageType.referral.value,
            case_reference=referral.case_reference, agreement_id=referral.agreement_id,
            detail={"role": principal.role.value},
        )
        summary = ReferralSummary.model_validate(referral)
        return ReferralPublic(**summary.model_dump(), record=referral.record,
                              receipt=_receipt_public(referral))

    def list_referrals(
        self, principal: Principal, direction: str | None, status: str | None, limit: int,
        before: str | None,
    ) -> list[ReferralSummary]:
        self._local_caseworker(principal)
        rows = self.repo.referrals_of([principal.institution_id], direction, status, limit, before)
        return [ReferralSummary.model_validate(r) for r in rows]

    def quarantine(self, principal: Principal, limit: int) -> list[QuarantinedMessage]:
        require_role(principal, Role.country_admin, Role.auditor)
        if not self.gateway.hosts(principal.institution_id):
            raise Forbidden("This institution is not hosted by this gateway.",
                            code="institution_not_hosted")
        return self.repo.quarantine(limit)


class Rejected(Exception):
    """An inbound message that goes to quarantine, with a stable reason code."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class InboundService:
    """What arrives from other gateways: verify, check, store, answer with a receipt."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def process(self, raw: bytes, subject: str, stream_sequence: int) -> str:
        """Handle one delivered message; returns what became of it (for logs and metrics).

        Transient failures (directory or registry unreachable, database busy) raise, so
        the message is redelivered; anything else ends stored or quarantined.
        """
        # A JWS is ASCII; anything else is garbage to keep legibly (PostgreSQL text has no NUL).
        token = raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
        with session_scope(self.gateway.engine) as session:
            repo = GatewayRepository(session)
            outbox = Outbox(repo, self.gateway)
            try:
                envelope = self._verified(token, subject)
                if envelope.type == MessageType.referral.value:
                    return self._take_referral(repo, outbox, envelope, token)
                if envelope.type == MessageType.receipt.value:
                    return self._take_receipt(repo, outbox, envelope, token)
                raise Rejected("unsupported_type", "this gateway does not handle the type")
            except Rejected as rejection:
                session.rollback()
                return self._quarantine(repo, outbox, token, subject, stream_sequence, rejection)

    def _verified(self, token: str, subject: str) -> Envelope:
        try:
            _, claimed = unverified_parts(token)
            sender = claimed.get("sender")
            if not isinstance(sender, str) or not sender:
                raise EnvelopeError("malformed", "the envelope names no sender")
            try:
                keys = self.gateway.directory.signing_keys(sender)
            except UnknownInstitution as exc:
                raise EnvelopeError("unknown_sender", "the sender is not in the directory") from exc
            try:
                envelope = verify_envelope(token, keys)
            except EnvelopeError as exc:
                if exc.code != "unknown_key":
                    raise
                # The sender may have registered a new key since we cached its keys.
                self.gateway.directory.forget_keys(sender)
                envelope = verify_envelope(token, self.gateway.directory.signing_keys(sender))
        except EnvelopeError as exc:
            raise Rejected(exc.code, exc.detail) from exc
        local = [r for r in envelope.recipients if self.gateway.hosts(r)]
        if not local or subject.split(".")[3:4] != [envelope.recipients[0]]:
            raise Rejected("not_for_this_gateway", "no recipient is hosted by this gateway")
        return envelope

    def _take_referral(
        self, repo: GatewayRepository, outbox: Outbox, envelope: Envelope, token: str
    ) -> str:
        existing = repo.referral(envelope.id)
        if existing is not None:
            if existing.envelope_digest == digest(token):
                return "duplicate"
            raise Rejected("replayed_message_id", "another message used this id before")
        recipient = envelope.recipients[0]
        case_reference = str(envelope.body.get("case_reference", ""))
        try:
            decision = self.gateway.registry.decide(recipient, {
                "sender": envelope.sender,
                "recipient": recipient,
                "message_type": envelope.type,
                "purpose": envelope.purpose,
                "data_categories": envelope.categories,
                "case_reference": case_reference or None,
            })
        except PolicyQuestionRefused as exc:
            raise Rejected("invalid_routing_fields", "purpose, categories or case reference "
                           "are outside the protocol's vocabulary or limits") from exc
        if decision["decision"] != "allow":
            reasons = decision["reasons"]
            raise Rejected(reasons[0]["code"] if reasons else "policy_denied",
                           "; ".join(r["detail"] for r in reasons))
        if decision["agreement_id"] != envelope.agreement:
            raise Rejected("agreement_mismatch", "the named agreement does not cover this flow")
        if decision["withheld_categories"]:
            withheld = ", ".join(decision["withheld_categories"])
            raise Rejected("category_not_allowed",
                           f"the agreement does not allow the categories: {withheld}")
        sender = self.gateway.directory.institution(envelope.sender)
        repo.add(Referral(
            id=envelope.id, direction="inbound", sender_id=envelope.sender,
            recipient_id=recipient, status="delivered", case_reference=case_reference,
            purpose=envelope.purpose or "", agreement_id=envelope.agreement or "",
            categories=envelope.categories, record=dict(envelope.body.get("record", {})),
            envelope=token, envelope_digest=digest(token), delivered_at=utcnow(),
        ))
        receipt = Envelope.new(
            ttl_seconds=self.gateway.message_ttl_seconds,
            type=MessageType.receipt.value,
            sender=recipient,
            recipients=[envelope.sender],
            agreement=envelope.agreement,
            purpose=envelope.purpose,
            in_reply_to=envelope.id,
            body={
                "message_id": envelope.id,
                "message_digest": digest(token),
                "received_at": utcnow().isoformat(),
                "status": "delivered",
            },
        )
        outbox.message(receipt, sign_envelope(receipt, self.gateway.keys[recipient]),
                       sender["country"])
        outbox.audit(
            AuditEventType.received, recipient, counterpart_id=envelope.sender,
            message_id=envelope.id, message_type=envelope.type, case_reference=case_reference,
            agreement_id=envelope.agreement, detail={"categories": envelope.categories},
        )
        log.info("referral_received", referral_id=envelope.id, sender=envelope.sender)
        return "stored"

    def _take_receipt(
        self, repo: GatewayRepository, outbox: Outbox, envelope: Envelope, token: str
    ) -> str:
        referral = repo.referral(str(envelope.body.get("message_id", "")))
        if (
            referral is None
            or referral.direction != "outbound"
            or referral.recipient_id != envelope.sender
            or envelope.body.get("message_digest") != referral.envelope_digest
        ):
            raise Rejected("receipt_mismatch", "the receipt matches no message this gateway sent")
        if referral.receipt is not None:
            return "duplicate"
        referral.receipt = token
        referral.status = "delivered"
        referral.delivered_at = utcnow()
        referral.sent_at = referral.sent_at or referral.delivered_at
        repo.session.add(referral)
        outbox.audit(
            AuditEventType.receipt, referral.sender_id, counterpart_id=envelope.sender,
            message_id=referral.id, message_type=MessageType.referral.value,
            case_reference=referral.case_reference, agreement_id=referral.agreement_id,
            detail={"receipt_id": envelope.id},
        )
        log.info("referral_delivered", referral_id=referral.id)
        return "receipt"

    def _quarantine(
        self, repo: GatewayRepository, outbox: Outbox, token: str, subject: str,
        stream_sequence: int, rejection: Rejected,
    ) -> str:
        try:
            _, claimed = unverified_parts(token)
        except EnvelopeError:
            claimed = {}

        def claimed_str(name: str) -> str | None:
            value = claimed.get(name)
            return str(value)[:200] if isinstance(value, str | int) else None

        stored = repo.add_quarantined(QuarantinedMessage(
            stream_sequence=stream_sequence, subject=subject[:200],
            message_id=claimed_str("id"), claimed_sender=claimed_str("sender"),
            message_type=claimed_str("type"), reason=rejection.reason,
            detail=rejection.detail[:500], raw=token,
        ))
        if stored:
            local = subject.split(".")[3] if subject.count(".") >= 4 else ""
            outbox.audit(
                AuditEventType.quarantined, local if self.gateway.hosts(local) else "unknown",
                counterpart_id=claimed_str("sender"), message_id=claimed_str("id"),
                message_type=claimed_str("type"), detail={"reason": rejection.reason},
            )
            log.warning("message_quarantined", reason=rejection.reason,
                        message_id=claimed_str("id"))
        return "quarantined"
