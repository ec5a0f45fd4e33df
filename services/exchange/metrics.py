"""What an operator watches of a gateway, besides its requests: messages sent, received and
quarantined, the outbox, the inbound consumer's lag, the snapshots' age (docs/operations.md).

Labels are closed vocabularies: a message type is one of MessageType (else "other"), an
outcome one of the handlers' words, a reason a ReasonCode."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable

from shared.kit.metrics import ConsumerGauges, ServiceMetrics
from shared.protocol.subjects import TYPE_HEADER
from shared.protocol.vocabulary import MessageType

MESSAGE_TYPES = frozenset(t.value for t in MessageType)
AUDIT_EVENT = "audit-event"  # an outbox row carrying an audit event, not a message


def type_of_subject(subject: str) -> str:
    """The message type a subject `enlace.msg.<country>.<institution>.<type>` names."""
    kind = subject.rsplit(".", 1)[-1]
    return kind if kind in MESSAGE_TYPES else "other"


def type_of_row(headers: dict[str, str], subject: str) -> str:
    kind = headers.get(TYPE_HEADER)
    if kind is None:
        return AUDIT_EVENT if subject.startswith("enlace.audit.") else "other"
    return kind if kind in MESSAGE_TYPES else "other"


class ExchangeMetrics:
    def __init__(self, metrics: ServiceMetrics | None = None) -> None:
        self.service = metrics or ServiceMetrics("exchange")
        m = self.service
        self.sent = m.counter(
            "enlace_messages_sent",
            "Outbox rows handed on: published to NATS (acknowledged by JetStream) or "
            "delivered to an institution of this gateway, by message type.", ["type"])
        self.received = m.counter(
            "enlace_messages_received",
            "Deliveries of inbound messages handled, by message type and outcome (retry: "
            "to be redelivered).", ["type", "outcome"])
        self.redelivered = m.counter(
            "enlace_messages_redelivered",
            "Deliveries of a message delivered before (JetStream's deliveries > 1).", ["type"])
        self.quarantined = m.counter(
            "enlace_messages_quarantined",
            "Inbound messages refused into the quarantine (over its quota included), by "
            "reason code.", ["reason"])
        self.outbox_pending = m.gauge(
            "enlace_outbox_pending_messages", "Outbox rows committed and not yet published.")
        self.directory_version = m.gauge(
            "enlace_directory_snapshot_version", "Version of the directory snapshot held.")
        self.directory_age = m.gauge(
            "enlace_directory_snapshot_age_seconds",
            "Seconds since the directory signed the snapshot held.")
        self.directory_expires_in = m.gauge(
            "enlace_directory_snapshot_expires_in_seconds",
            "Seconds until the directory snapshot held expires (negative: expired).")
        self.policy_held = m.gauge(
            "enlace_policy_snapshots_held",
            "Hosted institutions with a policy snapshot in memory.")
        self.policy_age = m.gauge(
            "enlace_policy_snapshot_age_seconds",
            "Seconds since the registry signed the oldest policy snapshot held.")
        self.policy_expires_in = m.gauge(
            "enlace_policy_snapshot_expires_in_seconds",
            "Seconds until the first policy snapshot held expires (negative: expired).")
        self.consumers = ConsumerGauges(m)

    def received_one(self, subject: str, outcome: str, delivery: int) -> None:
        kind = type_of_subject(subject)
        self.received.labels(kind, outcome).inc()
        if delivery > 1:
            self.redelivered.labels(kind).inc()

    def directory_snapshot(self, held: tuple[int, float, float] | None) -> None:
        version, issued_at, expires_at = held or (math.nan, math.nan, math.nan)
        now = time.time()
        self.directory_version.set(version)
        self.directory_age.set(now - issued_at if issued_at else math.nan)
        self.directory_expires_in.set(expires_at - now)

    def policy_snapshots(self, held: Iterable[tuple[float, float]]) -> None:
        times = list(held)
        now = time.time()
        self.policy_held.set(len(times))
        self.policy_age.set(now - min(i for i, _ in times) if times else math.nan)
        self.policy_expires_in.set(min(e for _, e in times) - now if times else math.nan)
