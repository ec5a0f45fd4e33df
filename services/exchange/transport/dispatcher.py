"""What arrives from other gateways (and from this gateway's own institutions): verified
once here, then routed by type to the handler of what it carries; or quarantined."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from services.exchange.alerts import inbound as alerts
from services.exchange.clients.directory import UnknownInstitution
from services.exchange.clients.regional import RegionalServiceDown
from services.exchange.gateway import Gateway
from services.exchange.referrals import inbound as referrals
from services.exchange.transport.arrivals import (
    Arrival,
    Handler,
    InboundLimits,
    NotYet,
    Rejected,
    text_of,
)
from services.exchange.transport.outbox import Outbox
from services.exchange.transport.quarantine import Quarantine
from shared.kit.db import session_scope
from shared.kit.logging import correlation, get_logger
from shared.protocol.envelope import Envelope, EnvelopeError, unverified_parts, verify_envelope
from shared.protocol.vocabulary import MessageType

log = get_logger(__name__)

# Each type's handlers, asked in turn until one takes the message.
ROUTES: dict[str, tuple[Handler, ...]] = {
    MessageType.referral.value: (referrals.take_referral,),
    MessageType.receipt.value: (referrals.take_receipt, alerts.take_receipt),
    MessageType.referral_update.value: (referrals.take_update,),
    MessageType.alert.value: (alerts.take_alert,),
    MessageType.alert_ack.value: (alerts.take_reply,),
    MessageType.alert_located.value: (alerts.take_reply,),
    MessageType.rejection.value: (referrals.take_rejection,),
}
# Why a message of the type that no handler took is refused.
UNCLAIMED = {
    MessageType.receipt.value: ("receipt_mismatch",
                                "the receipt matches no message this gateway sent"),
}


@dataclass(frozen=True)
class Delivered:
    """One message as JetStream delivered it, before anything is known of it."""

    raw: bytes
    subject: str
    stream_sequence: int
    delivery: int = 1
    age_seconds: float = 0.0
    correlation_id: str | None = None


class InboundDispatcher:
    def __init__(self, gateway: Gateway, limits: InboundLimits | None = None) -> None:
        self.gateway = gateway
        self.limits = limits or InboundLimits()
        self.quarantine = Quarantine(gateway, self.limits)

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
            return self.quarantine.keep(session, raw, subject, stream_sequence, rejection,
                                        delivery=delivery)

    def process_batch(self, batch: list[Delivered]) -> list[str | Exception]:
        """Handle a fetched batch in stream order: in one transaction when every message of it
        is taken; when any is not (rejected, not yet, failed), that transaction is rolled
        back and each message is handled alone by `process`. Returns, per message, what
        became of it or what `process` raised (the caller naks or terms on that)."""
        if len(batch) > 1:
            try:
                with session_scope(self.gateway.engine) as session:
                    outbox = Outbox(session, self.gateway)
                    outcomes: list[str | Exception] = []
                    for delivered in batch:
                        with correlation(delivered.correlation_id):
                            outcomes.append(self._take(session, outbox, text_of(delivered.raw),
                                                       delivered.subject))
                    return outcomes
            except Exception as exc:
                log.info("batch_handled_one_by_one", size=len(batch), cause=type(exc).__name__)
        return [self._alone(delivered) for delivered in batch]

    def _alone(self, delivered: Delivered) -> str | Exception:
        with correlation(delivered.correlation_id):
            try:
                return self.process(delivered.raw, delivered.subject, delivered.stream_sequence,
                                    delivered.delivery, delivered.age_seconds)
            except Exception as exc:
                return exc

    def _process(self, raw: bytes, subject: str, stream_sequence: int, delivery: int = 1) -> str:
        with session_scope(self.gateway.engine) as session:
            try:
                return self._take(session, Outbox(session, self.gateway), text_of(raw), subject)
            except Rejected as rejection:
                session.rollback()
                return self.quarantine.keep(session, raw, subject, stream_sequence, rejection,
                                            verified=rejection.envelope, delivery=delivery)

    def _take(self, session: Session, outbox: Outbox, token: str, subject: str) -> str:
        """Verify the message and route it to its handler; raises `Rejected`, naming the
        envelope once verified (its sender is told why, §4.4)."""
        envelope = self._verified(token, subject)
        try:
            return self._route(Arrival(session, outbox, envelope, token))
        except Rejected as rejection:
            rejection.envelope = envelope
            raise

    def _route(self, arrival: Arrival) -> str:
        handlers = ROUTES.get(arrival.envelope.type)
        if handlers is None:
            raise Rejected("unsupported_type", "this gateway does not handle the type")
        for handler in handlers:
            outcome = handler(arrival)
            if outcome is not None:
                return outcome
        raise Rejected(*UNCLAIMED[arrival.envelope.type])

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
