"""What every inbound handler shares: the message it is given, what it may raise, and the
checks of a message's contents that are the same for every type (unsealing, the policy)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session

from services.exchange.clients.registry import PolicyQuestionRefused
from services.exchange.gateway import Gateway
from services.exchange.transport.outbox import Outbox
from shared.kit.db import utcnow
from shared.protocol.envelope import Envelope, EnvelopeError
from shared.protocol.settings import Settings

# The largest integer a peer may put where the database keeps one (a clock, a version).
MAX_PEER_INT = 2**31 - 1


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


@dataclass(frozen=True)
class Arrival:
    """A verified message addressed to an institution of this gateway, with the transaction
    its handler writes in."""

    session: Session
    outbox: Outbox
    envelope: Envelope
    token: str

    @property
    def gateway(self) -> Gateway:
        return self.outbox.gateway


# What a message does here (for logs and metrics); None: it is about nothing this handler
# holds (another handler of the type may take it).
Handler = Callable[[Arrival], str | None]


def text_of(raw: bytes) -> str:
    # A JWS is ASCII; anything else is garbage, to parse no further.
    return raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def peer_int(value: Any, name: str) -> int:
    """An integer from a peer's body, in the range the database holds; else `malformed`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PEER_INT:
        raise Rejected("malformed", f"the body's {name} is not an integer in range")
    return value


def moment(text: Any) -> datetime:
    """When the other side says a step happened (so both sides show the same time)."""
    try:
        at = datetime.fromisoformat(str(text))
    except ValueError:
        return utcnow()
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def unseal(gateway: Gateway, institution_id: str, token: Any) -> dict[str, Any]:
    if not isinstance(token, str):
        raise Rejected("malformed", "the encrypted body is missing")
    try:
        return gateway.unseal_for(institution_id, token)
    except EnvelopeError as exc:
        raise Rejected(exc.code, exc.detail) from exc


def check_policy(gateway: Gateway, envelope: Envelope, recipient: str,
                 case_reference: str) -> None:
    try:
        decision = gateway.registry.decide(recipient, {
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
