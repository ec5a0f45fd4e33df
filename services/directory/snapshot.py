"""The directory's signed snapshot: a JWS (Ed25519) over the directory's content.

Gateways verify it with the directory's public key, which they are configured with, and
trust nothing else (docs/directory.md, "Signed snapshots").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc.jwk import OKPKey

from shared.protocol.documents import DIRECTORY_SNAPSHOT
from shared.protocol.envelope import sign


def sign_snapshot(content: dict[str, Any], key: OKPKey, ttl_seconds: int,
                  now: datetime | None = None) -> str:
    """Sign `content` (version, since, collections) with issued-at and expiry added."""
    issued = now or datetime.now(UTC)
    expires = issued + timedelta(seconds=ttl_seconds)
    claims = {**DIRECTORY_SNAPSHOT.claims,
              "iat": int(issued.timestamp()), "exp": int(expires.timestamp())}
    return sign({**claims, **content}, key, DIRECTORY_SNAPSHOT.media_type)
