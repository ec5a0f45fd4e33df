"""Settings shared by every service, read from ENLACE_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENLACE_", env_file=".env", extra="ignore")

    env: Literal["development", "production"] = "development"
    log_format: Literal["console", "json"] | None = None
    log_level: str = "INFO"

    data_dir: Path = Path("enlace-data")
    database_url: str = ""
    nats_url: str = "nats://127.0.0.1:4222"
    # The service's NATS identity: a .creds file (`enlace nats credentials`). Without it
    # the service connects anonymously and the server refuses it. The inbox prefix is
    # the identity's own (from the creds) unless set here.
    nats_credentials: Path | None = None
    nats_inbox_prefix: str = ""
    # Directory only: the NATS account's signing key (a 0600 file with its seed) and the
    # account's public key, to issue a joining country's gateway credentials.
    nats_account_signing_key_file: Path | None = None
    nats_account_public_key: str = ""

    # Every service: when set, GET /metrics answers only with it as a bearer token; when
    # empty, /metrics is open like /readyz (it holds no personal data; docs/operations.md).
    metrics_token: str = ""

    directory_url: str = "http://127.0.0.1:8100"
    registry_url: str = "http://127.0.0.1:8200"

    # Gateway only: the country it serves, the local institutions it hosts, and for each
    # of them the token it presents to the directory and the registry.
    gateway_country: str = ""
    gateway_tokens: dict[str, str] = Field(default_factory=dict)

    message_ttl_seconds: int = 7 * 24 * 3600
    # A missing-child alert not acknowledged by a target country within this time escalates.
    alert_ack_timeout_seconds: int = 15 * 60

    # The public keys (JWK) that the directory and the registry sign their snapshots and
    # checkpoints with: a gateway trusts what these keys sign, and nothing else.
    directory_public_key: dict[str, Any] | None = None
    registry_public_key: dict[str, Any] | None = None

    # Gateway inbound: how many times a message whose handling fails is tried before it
    # goes to quarantine (or, when even that fails, is terminated); how long an unreachable
    # directory or registry is waited for (by the message's age in the stream) before the
    # message goes to quarantine as `service_unavailable`; the consumer's limit of messages
    # delivered and not yet settled; after how long a message held unsettled makes the
    # gateway unready.
    inbound_max_deliveries: int = Field(8, ge=1, le=100)
    inbound_retry_seconds: int = Field(24 * 3600, ge=0)
    inbound_max_ack_pending: int = Field(2000, ge=1)
    inbound_stuck_seconds: float = Field(300.0, gt=0)
    # Gateway quarantine: how much of each raw message is kept (its size and SHA-256 always
    # are), and how many messages are kept per sender (the proven sender, or one bucket for
    # all unproven ones); beyond that only a counter per sender.
    quarantine_max_raw_bytes: int = Field(4096, ge=0)
    quarantine_max_per_sender: int = Field(10_000, ge=0)

    # Directory: how long a signed snapshot stays valid (a gateway works from its cached
    # snapshot while the directory is down, until then). Gateway: how often it asks for
    # the changes since the snapshot it holds.
    directory_snapshot_ttl_seconds: int = 24 * 3600
    directory_refresh_seconds: float = 10.0

    # Registry only: its token at the directory (role regional_service), to read
    # institutions (their countries) and to introspect gateway tokens it does not hold
    # itself; an answer is cached this long, so a revoked token stops within this bound.
    directory_token: str = ""
    token_introspection_cache_seconds: float = 5.0
    # How long a gateway may decide from the registry's signed policy snapshot, and how
    # often (at most) it fetches a fresh one after a decision.
    policy_snapshot_ttl_seconds: int = 3600
    policy_snapshot_refresh_seconds: int = 60

    @property
    def effective_log_format(self) -> str:
        if self.log_format:
            return self.log_format
        return "json" if self.env == "production" else "console"

    def database_url_for(self, service: str) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / f'{service}.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
