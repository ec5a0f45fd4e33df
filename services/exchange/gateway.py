"""What every part of a gateway shares: its configuration, keys and regional clients."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from joserfc.jwk import OKPKey
from sqlalchemy import Engine

from services.exchange.clients.directory import MIN_REFRESH_INTERVAL, DirectoryClient
from services.exchange.clients.registry import RegistryClient
from services.exchange.metrics import ExchangeMetrics
from shared.kit.errors import Unprocessable
from shared.kit.logging import get_logger
from shared.kit.loops import run_every
from shared.protocol.envelope import Envelope
from shared.protocol.sealing import seal, unseal

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
    metrics: ExchangeMetrics = field(default_factory=ExchangeMetrics)

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


async def refresh_directory_forever(gateway: Gateway, stop: asyncio.Event) -> None:
    """Keep the directory snapshot fresh from here, so that no request waits for it: from now
    on the gateway's lookups answer from the snapshot held (docs/directory.md)."""
    directory = gateway.directory
    directory.background = True

    async def refresh() -> None:
        await asyncio.to_thread(directory.refresh_if_due)

    await run_every(MIN_REFRESH_INTERVAL, refresh, stop, failure_event="directory_refresh_failed")

