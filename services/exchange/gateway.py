"""What every part of a gateway shares: its configuration and the outbox."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import OKPKey
from sqlalchemy import Engine

from services.exchange.directory_client import MIN_REFRESH_INTERVAL, DirectoryClient
from services.exchange.models import OutboxMessage
from services.exchange.registry_client import RegistryClient
from services.exchange.repository import GatewayRepository
from services.exchange.webhooks import pushes, queue_webhooks
from shared.kit.db import utcnow
from shared.kit.errors import Unprocessable
from shared.kit.jetstream import headers_for
from shared.kit.logging import current_correlation_id, get_logger
from shared.protocol.audit_events import AuditEvent, sign_event
from shared.protocol.envelope import Envelope, sign_envelope
from shared.protocol.sealing import seal, unseal
from shared.protocol.subjects import SENDER_HEADER, TYPE_HEADER, audit_subject, message_subject
from shared.protocol.vocabulary import AuditEventType

log = get_logger(__name__)


@dataclass
class Gateway:
    """Everything a gateway's rules need, built once at start-up."""

    country: str
    engine: Engine
    keys: dict[str, OKPKey]
    encryption_keys: dict[str, OKPKey]
    directory: DirectoryClient
    registry: RegistryClient
    message_ttl_seconds: int

    def hosts(self, institution_id: str) -> bool:
        return institution_id in self.keys

    def envelope(self, **fields: Any) -> Envelope:
        return Envelope.new(ttl_seconds=self.message_ttl_seconds, **fields)

    def seal_for(self, institution_id: str, data: dict[str, Any],
                 jwk: dict[str, Any] | None = None) -> str:
        """Encrypt to the institution's current key from the directory (or to `jwk`, that
        key already looked up for this request)."""
        jwk = jwk or self.directory.encryption_key(institution_id)
        if jwk is None:
            raise Unprocessable("The recipient has no encryption key in the directory yet; "
                                "its gateway registers one when it starts.",
                                code="recipient_cannot_decrypt")
        return seal(jwk, data)

    def unseal_for(self, institution_id: str, token: Any) -> dict[str, Any]:
        """Decrypt with a hosted institution's key; EnvelopeError if it cannot be done."""
        return unseal(str(token), self.encryption_keys[institution_id])


class Outbox:
    """Messages and audit events, written in the transaction of the change they announce."""

    def __init__(self, repo: GatewayRepository, gateway: Gateway) -> None:
        self.repo = repo
        self.gateway = gateway

    def send(self, envelope: Envelope, referral_id: str | None = None,
             country: str | None = None) -> str:
        """Sign as the envelope's sender and queue for its (single) recipient; return the JWS.
        `country` is the recipient's, when the caller already looked it up."""
        return self.queue(*self.signed(envelope, country), referral_id=referral_id)

    def signed(self, envelope: Envelope, country: str | None = None) -> tuple[Envelope, str, str]:
        """The envelope, its JWS and its recipient's country: all of `send` that needs no
        database, to do before a transaction opens."""
        token = sign_envelope(envelope, self.gateway.keys[envelope.sender])
        country = country or self.gateway.directory.institution(envelope.recipients[0])["country"]
        return envelope, token, country

    def queue(self, envelope: Envelope, token: str, country: str,
              referral_id: str | None = None) -> str:
        """Queue a message signed by `signed`; return its JWS."""
        recipient = envelope.recipients[0]
        headers = headers_for(envelope.id, current_correlation_id(),
                              **{TYPE_HEADER: envelope.type, SENDER_HEADER: envelope.sender})
        # Flushed with the transaction's next query or its commit, in the order added.
        self.repo.session.add(OutboxMessage(
            msg_id=envelope.id, subject=message_subject(country, recipient, envelope.type),
            headers=headers, payload=token, referral_id=referral_id,
        ))
        return token

    def audit(self, event_type: AuditEventType, institution_id: str, **fields: Any) -> None:
        """Sign the event with the key of the institution it is about, which must be hosted
        here: the registry takes no event a gateway cannot sign (docs/protocol.md §10)."""
        event = AuditEvent(event_id=str(uuid.uuid4()), event_type=event_type,
                           occurred_at=utcnow(), institution_id=institution_id, **fields)
        self.repo.session.add(OutboxMessage(
            msg_id=event.event_id, subject=audit_subject(self.gateway.country),
            headers=headers_for(event.event_id, current_correlation_id()),
            payload=sign_event(event, self.gateway.keys[institution_id]),
        ))
        if pushes(self.repo.session, institution_id, event_type.value):
            queue_webhooks(self.repo.session, institution_id,
                           event.model_dump(mode="json", exclude={"v"}, exclude_none=True))


async def refresh_directory_forever(gateway: Gateway, stop: asyncio.Event) -> None:
    """Keep the directory snapshot fresh from here, so that no request waits for it: from now
    on the gateway's lookups answer from the snapshot held (docs/directory.md)."""
    directory = gateway.directory
    directory.background = True
    while not stop.is_set():
        try:
            await asyncio.to_thread(directory.refresh_if_due)
        except Exception as exc:
            log.warning("directory_refresh_failed", error=type(exc).__name__)
        await asyncio.sleep(MIN_REFRESH_INTERVAL)


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
                log.warning("local_delivery_failed", error=type(exc).__name__, attempt=attempt)
                break
            self.attempts.pop(row.seq, None)
            done.append(row.seq)
            log.info("message_handled", subject=row.subject, outcome=outcome, local=True)
        return done
