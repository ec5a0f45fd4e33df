"""What arrives from other gateways: verify, check, store, answer; or quarantine."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.exchange import alerts
from services.exchange.directory_client import UnknownInstitution
from services.exchange.gateway import Gateway, Outbox
from services.exchange.lifecycle import RULES, Action, Side
from services.exchange.models import QuarantinedMessage, Referral, ReferralEvent
from services.exchange.regional_client import RegionalServiceDown
from services.exchange.registry_client import PolicyQuestionRefused
from services.exchange.repository import GatewayRepository
from services.exchange.service import AUDIT_OF_ACTION, add_event, counterpart_of, local_party
from shared.kit.db import session_scope, utcnow
from shared.kit.logging import get_logger
from shared.protocol.audit_events import claimed_id, claimed_message_type, claimed_uuid, reason_code
from shared.protocol.envelope import (
    Envelope,
    EnvelopeError,
    digest,
    unverified_parts,
    verify_envelope,
)
from shared.protocol.settings import Settings
from shared.protocol.vocabulary import AuditEventType, MessageType

log = get_logger(__name__)

DELIVERY_CLOCK = 1  # the referral itself is step 0 of its life, its delivery step 1
# The largest integer a peer may put where the database keeps one (a clock, a version).
MAX_PEER_INT = 2**31 - 1
# NUL and lone surrogates are valid in a JSON string but no database column holds them.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


@dataclass(frozen=True)
class InboundLimits:
    """Bounds on what one message may cost (the inbound_* and quarantine_* settings)."""

    max_deliveries: int = 8  # with backoff 1+2+...+64 s: about two minutes of retries
    retry_seconds: float = 24 * 3600
    max_raw_bytes: int = 4096
    max_per_sender: int = 10_000

    @classmethod
    def of(cls, settings: Settings) -> InboundLimits:
        return cls(settings.inbound_max_deliveries, settings.inbound_retry_seconds,
                   settings.quarantine_max_raw_bytes, settings.quarantine_max_per_sender)


def _text(raw: bytes) -> str:
    # A JWS is ASCII; anything else is garbage, to parse no further.
    return raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def _storable(text: str) -> str:
    """The text with what no database can store escaped as \\uXXXX."""
    return _UNSTORABLE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def _peer_int(value: Any, name: str) -> int:
    """An integer from a peer's body, in the range the database holds; else `malformed`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PEER_INT:
        raise Rejected("malformed", f"the body's {name} is not an integer in range")
    return value


def _moment(text: Any) -> datetime:
    """When the other side says a step happened (so both sides show the same time)."""
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return utcnow()
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Rejected(Exception):
    """An inbound message that goes to quarantine, with a stable reason code."""

    def __init__(self, reason: str, detail: str, envelope: Envelope | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.envelope = envelope  # the verified envelope, when its sender is to be told


class NotYet(Exception):
    """The message may become acceptable once an earlier one has arrived."""

    def __init__(self, rejection: Rejected) -> None:
        super().__init__(rejection.detail)
        self.rejection = rejection


class InboundService:
    def __init__(self, gateway: Gateway, limits: InboundLimits | None = None) -> None:
        self.gateway = gateway
        self.limits = limits or InboundLimits()

    def process(self, raw: bytes, subject: str, stream_sequence: int, delivery: int = 1,
                age_seconds: float = 0.0) -> str:
        """Handle one delivered message; returns what became of it (for logs and metrics).

        An unreachable directory or registry raises, so the message is redelivered later,
        until the message is `limits.retry_seconds` old; then it goes to quarantine. Any
        other failure is retried up to `limits.max_deliveries` times (a referral's update
        may overtake the referral), then the message goes to quarantine: nothing is retried
        forever, nothing is dropped. Raises only when even the quarantine cannot be written
        (the caller then gives up on the message after its last delivery).
        """
        try:
            return self._process(raw, subject, stream_sequence, delivery)
        except RegionalServiceDown:
            if age_seconds < self.limits.retry_seconds:
                raise
            return self._quarantine_alone(raw, subject, stream_sequence, Rejected(
                "service_unavailable", "the directory or registry stayed unreachable "
                "for longer than this gateway waits"), delivery)
        except NotYet as exc:
            if delivery < self.limits.max_deliveries:
                raise
            return self._quarantine_alone(raw, subject, stream_sequence, exc.rejection,
                                          delivery)
        except Exception as exc:
            if delivery < self.limits.max_deliveries:
                raise
            # The type only: an exception's text may quote the message (a child's data).
            log.error("message_processing_failed", stream_sequence=stream_sequence,
                      error=type(exc).__name__, deliveries=delivery)
            return self._quarantine_alone(raw, subject, stream_sequence, Rejected(
                "processing_failed", f"{type(exc).__name__} after {delivery} deliveries"),
                delivery)

    def _quarantine_alone(self, raw: bytes, subject: str, stream_sequence: int,
                          rejection: Rejected, delivery: int) -> str:
        with session_scope(self.gateway.engine) as session:
            repo = GatewayRepository(session)
            return self._quarantine(repo, Outbox(repo, self.gateway), raw, subject,
                                    stream_sequence, rejection, delivery=delivery)

    def _process(self, raw: bytes, subject: str, stream_sequence: int, delivery: int = 1) -> str:
        token = _text(raw)
        with session_scope(self.gateway.engine) as session:
            repo = GatewayRepository(session)
            outbox = Outbox(repo, self.gateway)
            envelope: Envelope | None = None
            try:
                envelope = self._verified(token, subject)
                handler = {
                    MessageType.referral.value: self._take_referral,
                    MessageType.receipt.value: self._take_receipt,
                    MessageType.referral_update.value: self._take_update,
                    MessageType.alert.value: self._take_alert,
                    MessageType.alert_ack.value: self._take_alert_reply,
                    MessageType.alert_located.value: self._take_alert_reply,
                    MessageType.rejection.value: self._take_rejection,
                }.get(envelope.type)
                if handler is None:
                    raise Rejected("unsupported_type", "this gateway does not handle the type")
                return handler(repo, outbox, envelope, token)
            except Rejected as rejection:
                session.rollback()
                return self._quarantine(repo, outbox, raw, subject, stream_sequence, rejection,
                                        verified=envelope or rejection.envelope,
                                        delivery=delivery)

    def _notify_sender(self, outbox: Outbox, refused: Envelope, rejection: Rejected) -> None:
        """A signed notice to a proven sender that its message was not accepted, and why."""
        if refused.type in (MessageType.rejection.value, MessageType.receipt.value):
            return  # never answer a notice with a notice
        outbox.send(self.gateway.envelope(
            type=MessageType.rejection.value, sender=refused.recipients[0],
            recipients=[refused.sender], in_reply_to=refused.id, purpose=refused.purpose,
            body={"message_id": refused.id, "message_type": refused.type,
                  "reason": rejection.reason, "detail": rejection.detail},
        ))

    def _verified(self, token: str, subject: str) -> Envelope:
        try:
            header, claimed = unverified_parts(token)
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
                try:
                    envelope = verify_envelope(token, self.gateway.directory.signing_keys(sender))
                except EnvelopeError as again:
                    if again.code == "unknown_key" and \
                            self.gateway.directory.is_revoked(sender, str(header.get("kid"))):
                        raise EnvelopeError("revoked_key", "the signing key has been "
                                            "revoked") from again
                    raise
        except EnvelopeError as exc:
            # A proven sender is told why (§4.4), if the message was for us to answer.
            answerable = exc.envelope if exc.envelope and self._for_us(exc.envelope, subject) \
                else None
            raise Rejected(exc.code, exc.detail, answerable) from exc
        if not self._for_us(envelope, subject):
            raise Rejected("not_for_this_gateway", "the recipient is not hosted by this gateway")
        return envelope

    def _for_us(self, envelope: Envelope, subject: str) -> bool:
        return self.gateway.hosts(envelope.recipients[0]) and \
            subject.split(".")[3:4] == [envelope.recipients[0]]

    def _take_referral(
        self, repo: GatewayRepository, outbox: Outbox, envelope: Envelope, token: str
    ) -> str:
        existing = repo.referral(envelope.id, "inbound")
        if existing is not None:
            if existing.envelope_digest == digest(token):
                return "duplicate"
            raise Rejected("replayed_message_id", "another message used this id before")
        recipient = envelope.recipients[0]
        case_reference = str(envelope.body.get("case_reference", ""))
        self._check_policy(envelope, recipient, case_reference)
        record = self._unseal(recipient, envelope.body.get("record_jwe"))
        referral = Referral(
            id=envelope.id, direction="inbound", sender_id=envelope.sender,
            recipient_id=recipient, status="sent", case_reference=case_reference,
            purpose=envelope.purpose or "", agreement_id=envelope.agreement or "",
            categories=envelope.categories, record=record,
            envelope=token, envelope_digest=digest(token),
        )
        repo.session.add(referral)  # inserted with its first state, at the commit
        now = utcnow()
        receipt = self.gateway.envelope(
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

    def _unseal(self, institution_id: str, token: Any) -> dict[str, Any]:
        if not isinstance(token, str):
            raise Rejected("malformed", "the encrypted body is missing")
        try:
            return self.gateway.unseal_for(institution_id, token)
        except EnvelopeError as exc:
            raise Rejected(exc.code, exc.detail) from exc

    def _check_policy(self, envelope: Envelope, recipient: str, case_reference: str) -> None:
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
            reasons = decision.get("reasons") or [{"code": "category_not_allowed", "detail": (
                "withheld: " + ", ".join(decision["withheld_categories"]))}]
            raise Rejected(reasons[0]["code"], "; ".join(r["detail"] for r in reasons))

    def _take_receipt(
        self, repo: GatewayRepository, outbox: Outbox, envelope: Envelope, token: str
    ) -> str:
        referral = repo.referral(str(envelope.body.get("message_id", "")), "outbound")
        if referral is None and alerts.take_alert_receipt(repo.session, envelope):
            return "alert-receipt"
        if (
            referral is None
            or referral.direction != "outbound"
            or referral.recipient_id != envelope.sender
            or envelope.body.get("message_digest") != referral.envelope_digest
        ):
            raise Rejected("receipt_mismatch", "the receipt matches no message this gateway sent")
        if referral.receipt is not None:
            return "duplicate"
        step = ReferralEvent(
            id=envelope.id, referral_id=referral.id, action=Action.deliver.value,
            side=Side.recipient.value, actor_id=envelope.sender,
            clock=_peer_int(envelope.body.get("clock", DELIVERY_CLOCK), "clock"),
            at=_moment(envelope.body.get("received_at")),
        )
        # Signed before the first write, so the database's writer is held for less.
        outbox.audit(
            AuditEventType.receipt, referral.sender_id, counterpart_id=envelope.sender,
            message_id=referral.id, message_type=MessageType.referral.value,
            case_reference=referral.case_reference, agreement_id=referral.agreement_id or None,
            detail={"receipt_id": claimed_uuid(envelope.id)},
        )
        referral.receipt = token
        referral.sent_at = referral.sent_at or utcnow()
        add_event(repo, referral, step)
        log.info("referral_delivered", referral_id=referral.id)
        return "receipt"

    def _take_update(
        self, repo: GatewayRepository, outbox: Outbox, envelope: Envelope, token: str
    ) -> str:
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
            clock = _peer_int(body["clock"], "clock")
            at = _moment(body["at"])
        except (ValueError, KeyError, TypeError) as exc:
            raise Rejected("malformed", "the update's action or clock is not valid") from exc
        side = Side.sender if envelope.sender == referral.sender_id else Side.recipient
        rule = RULES[action]
        if action in (Action.deliver, Action.refuse) or (rule.side is not None
                                                         and rule.side != side):
            raise Rejected("action_not_allowed", f"the {side.value} cannot {action.value}")
        sealed = self._unseal(local_party(referral), body.get("details_jwe"))
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

    def _take_alert(
        self, repo: GatewayRepository, outbox: Outbox, envelope: Envelope, token: str
    ) -> str:
        _peer_int(envelope.body.get("version", 0), "version")
        # `alert_jwe` replaced the clear `public`, `located` and `reason` of earlier gateways:
        # a message without it is of that older form, refused rather than read in part.
        if not isinstance(envelope.body.get("alert_jwe"), str):
            raise Rejected("malformed", "the alert has no alert_jwe: what it says about the "
                           "child travels sealed (protocol.md 5.4)")
        sealed = self._unseal(envelope.recipients[0], envelope.body.get("alert_jwe"))
        outcome = alerts.take_alert(repo.session, outbox, envelope, sealed)
        if outcome is None:
            raise Rejected("not_the_issuer", "only the issuer of an alert can change it")
        return outcome

    def _take_alert_reply(
        self, repo: GatewayRepository, outbox: Outbox, envelope: Envelope, token: str
    ) -> str:
        sealed = self._unseal(envelope.recipients[0], envelope.body.get("details_jwe"))
        if envelope.type == MessageType.alert_ack.value:
            outcome = alerts.take_alert_ack(repo.session, outbox, envelope, sealed)
        else:
            outcome = alerts.take_alert_located(repo.session, outbox, envelope, sealed)
        if outcome is None:
            raise Rejected("unknown_alert", "the message names no alert issued to the sender")
        return outcome

    def _take_rejection(
        self, repo: GatewayRepository, outbox: Outbox, envelope: Envelope, token: str
    ) -> str:
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

    def _quarantine(
        self, repo: GatewayRepository, outbox: Outbox, raw: bytes, subject: str,
        stream_sequence: int, rejection: Rejected, verified: Envelope | None = None,
        delivery: int = 1,
    ) -> str:
        if delivery > 1 and repo.is_quarantined(stream_sequence):
            return "quarantined"  # a redelivery after the quarantine committed
        # Each proven sender has its quota; all unproven messages share one (whatever they
        # claim: a forger must not use up a real institution's quota).
        sender = verified.sender if verified is not None else None
        if not repo.take_quarantine_slot(sender or "", self.limits.max_per_sender,
                                         rejection.reason):
            log.warning("quarantine_quota_exceeded", sender=sender, reason=rejection.reason,
                        stream_sequence=stream_sequence)
            return "over-quota"
        try:
            _, claimed = unverified_parts(_text(raw))
        except EnvelopeError:
            claimed = {}

        def claimed_str(name: str, limit: int = 200) -> str | None:
            value = claimed.get(name)
            return _storable(value)[:limit] if isinstance(value, str) else None

        stored = repo.add_quarantined(QuarantinedMessage(
            stream_sequence=stream_sequence, subject=_storable(subject)[:200],
            message_id=claimed_str("id"), claimed_sender=claimed_str("sender"),
            message_type=claimed_str("type"), reason=rejection.reason,
            detail=_storable(rejection.detail)[:500], verified_sender=sender,
            raw=raw[:self.limits.max_raw_bytes], raw_size=len(raw),
            raw_sha256=hashlib.sha256(raw).hexdigest(),
        ))
        if stored:
            local = subject.split(".")[3] if subject.count(".") >= 4 else ""
            if self.gateway.hosts(local):  # else no hosted institution can sign the event
                outbox.audit(
                    AuditEventType.quarantined, local,
                    counterpart_id=claimed_id(claimed.get("sender")),
                    message_id=claimed_uuid(claimed.get("id")),
                    message_type=claimed_message_type(claimed.get("type")),
                    detail={"reason": reason_code(rejection.reason)},
                )
            if verified is not None:
                self._notify_sender(outbox, verified, rejection)
            log.warning("message_quarantined", reason=rejection.reason,
                        message_id=claimed_str("id"))
        return "quarantined"
