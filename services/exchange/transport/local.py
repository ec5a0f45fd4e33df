"""Messages between two institutions this gateway hosts."""

from __future__ import annotations

from collections.abc import Callable

from services.exchange.gateway import Gateway
from services.exchange.transport.models import OutboxMessage
from shared.kit.logging import get_logger

log = get_logger(__name__)


class LocalDelivery:
    """Messages between two institutions this gateway hosts. They never go over NATS (a
    gateway may not publish to its own country's subjects): once committed to the outbox
    they go through the same inbound handling as a message from another gateway
    (verification, policy, storage for the recipient, receipt, quarantine), in outbox
    order. A message that keeps failing ends in quarantine as from NATS; its stream
    sequence there is minus its outbox sequence."""

    def __init__(self, gateway: Gateway, process: Callable[[bytes, str, int, int], str]) -> None:
        self.gateway = gateway
        self.process = process
        self.attempts: dict[int, int] = {}

    def takes(self, row: OutboxMessage) -> bool:
        parts = row.subject.split(".")
        return (len(parts) == 5 and parts[:3] == ["enlace", "msg", self.gateway.country]
                and self.gateway.hosts(parts[3]))

    def deliver(self, rows: list[OutboxMessage]) -> list[int]:
        """Handle the rows in order up to the first that fails (tried again on the next
        pass); return the outbox sequences of those handled."""
        done: list[int] = []
        for row in rows:
            assert row.seq is not None
            attempt = self.attempts.get(row.seq, 0) + 1
            try:
                outcome = self.process(row.payload.encode(), row.subject, -row.seq, attempt)
            except Exception as exc:
                self.attempts[row.seq] = attempt
                self.gateway.metrics.received_one(row.subject, "retry", attempt)
                log.warning("local_delivery_failed", error=type(exc).__name__, attempt=attempt)
                break
            self.attempts.pop(row.seq, None)
            done.append(row.seq)
            self.gateway.metrics.received_one(row.subject, outcome, attempt)
            log.info("message_handled", subject=row.subject, outcome=outcome, local=True)
        return done
