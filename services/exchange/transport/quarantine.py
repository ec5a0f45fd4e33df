"""The quarantine: messages this gateway refused, kept (within a quota per sender) with
their reason, their proven senders told; and what administrators see of it."""

from __future__ import annotations

import hashlib
import re

from sqlmodel import Session

from services.exchange.figures.facts import count_quarantined
from services.exchange.gateway import Gateway
from services.exchange.transport.arrivals import InboundLimits, Rejected, text_of
from services.exchange.transport.models import QuarantinedMessage, QuarantineQuota
from services.exchange.transport.outbox import Outbox
from services.exchange.transport.repository import QuarantineRepository
from shared.kit.db import utcnow
from shared.kit.errors import Forbidden
from shared.kit.logging import get_logger
from shared.protocol.audit_events import claimed_id, claimed_message_type, claimed_uuid, reason_code
from shared.protocol.auth import Principal, Role, require_role
from shared.protocol.envelope import Envelope, EnvelopeError, unverified_parts
from shared.protocol.vocabulary import AuditEventType, MessageType

log = get_logger(__name__)

# NUL and lone surrogates are valid in a JSON string but no database column holds them.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(text: str) -> str:
    """The text with what no database can store escaped as \\uXXXX."""
    return _UNSTORABLE.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


class Quarantine:
    def __init__(self, gateway: Gateway, limits: InboundLimits) -> None:
        self.gateway = gateway
        self.limits = limits

    def keep(
        self, session: Session, raw: bytes, subject: str, stream_sequence: int,
        rejection: Rejected, verified: Envelope | None = None, delivery: int = 1,
    ) -> str:
        repo = QuarantineRepository(session)
        outbox = Outbox(session, self.gateway)
        if delivery > 1 and repo.is_quarantined(stream_sequence):
            return "quarantined"  # a redelivery after the quarantine committed
        # Each proven sender has its quota; all unproven messages share one (whatever they
        # claim: a forger must not use up a real institution's quota).
        sender = verified.sender if verified is not None else None
        reason = reason_code(rejection.reason)
        count_quarantined(session, self._counted_for(subject), reason, utcnow())
        self.gateway.metrics.quarantined.labels(reason).inc()
        if not repo.take_quarantine_slot(sender or "", self.limits.max_per_sender,
                                         rejection.reason):
            log.warning("quarantine_quota_exceeded", sender=sender, reason=rejection.reason,
                        stream_sequence=stream_sequence)
            return "over-quota"
        try:
            _, claimed = unverified_parts(text_of(raw))
        except EnvelopeError:
            claimed = {}

        def claimed_str(name: str, limit: int = 200) -> str | None:
            value = claimed.get(name)
            return storable(value)[:limit] if isinstance(value, str) else None

        stored = repo.add_quarantined(QuarantinedMessage(
            stream_sequence=stream_sequence, subject=storable(subject)[:200],
            message_id=claimed_str("id"), claimed_sender=claimed_str("sender"),
            message_type=claimed_str("type"), reason=rejection.reason,
            detail=storable(rejection.detail)[:500], verified_sender=sender,
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

    def _counted_for(self, subject: str) -> str:
        """The hosted institution whose figures count a quarantined message: the one its
        subject names, else (a subject naming none hosted here) the first hosted."""
        local = subject.split(".")[3] if subject.count(".") >= 4 else ""
        return local if self.gateway.hosts(local) else min(self.gateway.keys)

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


class QuarantineService:
    """What administrators and auditors read of the quarantine through the REST API."""

    def __init__(self, session: Session, gateway: Gateway) -> None:
        self.repo = QuarantineRepository(session)
        self.gateway = gateway

    def entries(self, principal: Principal, limit: int,
                before_id: int | None = None) -> list[QuarantinedMessage]:
        """What was addressed to the caller's institution; for a country administrator
        also what was addressed to no institution this gateway hosts (nobody else's)."""
        require_role(principal, Role.country_admin, Role.auditor)
        if not self.gateway.hosts(principal.institution_id):
            raise Forbidden("This institution is not hosted by this gateway.",
                            code="institution_not_hosted")
        others = [i for i in self.gateway.keys if i != principal.institution_id]
        return self.repo.quarantine(
            limit, self.gateway.country, principal.institution_id,
            unaddressed_except=others if principal.role == Role.country_admin else None,
            before_id=before_id)

    def over_quota(self) -> list[QuarantineQuota]:
        return self.repo.quarantine_over_quota()
