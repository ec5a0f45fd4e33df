"""The signed envelope: Ed25519 keys as JWK, RFC 7638 thumbprints as key ids, JWS compact.

Signed with alg "Ed25519" (RFC 9864); "EdDSA", the older name for the same algorithm,
is accepted when verifying so that peers on older JOSE libraries interoperate. Signatures
are checked by shared.kit.signed; what fails is said here as an EnvelopeError.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from joserfc import jws
from joserfc.jwk import OKPKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.kit import signed

PROTOCOL_VERSION = "1"
SIGNING_ALGORITHM = "Ed25519"
ENVELOPE_MEDIA_TYPE = "enlace-envelope+jws"
# The longest validity (`exp` - `iat`) a receiver accepts: the stream keeps a message no
# longer (shared.kit.jetstream.STREAM_MAX_AGE_SECONDS).
MAX_LIFETIME_SECONDS = 30 * 24 * 3600


class EnvelopeError(Exception):
    """Why an envelope cannot be trusted; `code` is stable and goes to quarantine."""

    def __init__(self, code: str, detail: str, envelope: Envelope | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        # Set when the signature verified and the envelope is well-formed, so that the
        # proven sender can be answered.
        self.envelope = envelope


@contextmanager
def _as_envelope_error() -> Iterator[None]:
    try:
        yield
    except signed.DocumentRejected as exc:
        raise EnvelopeError(exc.code, exc.detail) from exc


class Envelope(BaseModel):
    """What the sender signs. Routing fields in clear, the body as the message type defines."""

    model_config = ConfigDict(extra="forbid")

    v: str = PROTOCOL_VERSION
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    type: str
    sender: str
    recipients: list[str] = Field(min_length=1, max_length=20)
    iat: int
    exp: int
    agreement: str | None = None
    purpose: str | None = None
    categories: list[str] = Field(default_factory=list)
    in_reply_to: str | None = None
    body: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def new(cls, *, ttl_seconds: int, **fields: Any) -> Envelope:
        now = datetime.now(UTC)
        return cls(
            iat=int(now.timestamp()), exp=int((now + timedelta(seconds=ttl_seconds)).timestamp()),
            **fields,
        )


# Keys ------------------------------------------------------------------------------------


def generate_signing_key() -> OKPKey:
    return OKPKey.generate_key("Ed25519")


def key_id(key: OKPKey) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url) of the public key."""
    return signed.thumbprint(key)


def public_jwk(key: OKPKey) -> dict[str, Any]:
    jwk = dict(key.as_dict(private=False))
    jwk.update({"kid": key_id(key), "use": "sig", "alg": SIGNING_ALGORITHM})
    return jwk


def import_jwk(data: dict[str, Any]) -> OKPKey:
    with _as_envelope_error():
        return signed.import_ed25519_jwk(data)


def service_key_path(data_dir: Path) -> Path:
    """Where a regional service (directory, registry) keeps the key it signs snapshots with."""
    return data_dir / "keys" / "service.sig.jwk.json"


def load_or_create_private_key(
    path: Path, curve: Literal["Ed25519", "X25519"] = "Ed25519"
) -> OKPKey:
    """A private key kept as a JWK file readable only by its owner; created on first use."""
    if path.exists():
        data = json.loads(path.read_text())
        if data.get("crv") != curve:
            raise EnvelopeError("unsupported_key", f"{path.name} does not hold a {curve} key")
        return OKPKey.import_key(data)
    key = OKPKey.generate_key(curve)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(dict(key.as_dict(private=True)), handle)
    return key


# Sign and verify -------------------------------------------------------------------------


def sign(payload: dict[str, Any], key: OKPKey, media_type: str = ENVELOPE_MEDIA_TYPE) -> str:
    header = {"alg": SIGNING_ALGORITHM, "kid": key_id(key), "typ": media_type}
    data = json.dumps(payload, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return str(jws.serialize_compact(header, data.encode(), key, algorithms=[SIGNING_ALGORITHM]))


def sign_envelope(envelope: Envelope, key: OKPKey) -> str:
    return sign(envelope.model_dump(mode="json"), key)


def unverified_parts(token: str, max_payload_bytes: int | None = None
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload before verification: only to find which key to verify with."""
    with _as_envelope_error():
        return signed.unverified_parts(token, max_payload_bytes)


def extract(token: str, max_payload_bytes: int | None = None) -> signed.jws.CompactSignature:
    """The JWS decoded once, before verification (its `protected` header and `payload`
    bytes), to be verified by `check_signature` without decoding it again."""
    with _as_envelope_error():
        return signed.extract(token, max_payload_bytes)


def check_signature(compact: signed.jws.CompactSignature, public_keys: list[dict[str, Any]]
                    ) -> None:
    """Check an extracted JWS's signature with the key named by `kid` among `public_keys`."""
    with _as_envelope_error():
        signed.check_signature(compact, public_keys)


def verify(token: str, public_keys: list[dict[str, Any]], max_payload_bytes: int | None = None
           ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check the signature with the key named by `kid` among `public_keys`.

    Returns the protected header and the payload. Raises EnvelopeError otherwise.
    """
    with _as_envelope_error():
        return signed.verify_signature(token, public_keys, max_payload_bytes)


def verify_envelope(
    token: str, sender_keys: list[dict[str, Any]], now: datetime | None = None
) -> Envelope:
    """Verify signature, then shape, then that the sender signed as itself and in time."""
    header, payload = verify(token, sender_keys)
    if not signed.is_media_type(header.get("typ"), ENVELOPE_MEDIA_TYPE):
        raise EnvelopeError("unsupported_typ", f"the header typ is not {ENVELOPE_MEDIA_TYPE}")
    try:
        envelope = Envelope.model_validate(payload)
    except ValidationError as exc:
        raise EnvelopeError("malformed", "the envelope fields are not valid") from exc
    if envelope.v != PROTOCOL_VERSION:
        # Not the version's own text: it is the sender's, and could be anything.
        raise EnvelopeError("unsupported_version", "the protocol version is unknown", envelope)
    if not 0 < envelope.exp - envelope.iat <= MAX_LIFETIME_SECONDS:
        raise EnvelopeError("invalid_lifetime", "exp must be after iat and at most "
                            f"{MAX_LIFETIME_SECONDS // 86400} days after it", envelope)
    moment = int((now or datetime.now(UTC)).timestamp())
    if envelope.exp < moment:
        raise EnvelopeError("expired", "the envelope has expired")
    if envelope.iat > moment + signed.CLOCK_SKEW_SECONDS:
        raise EnvelopeError("issued_in_future", "the envelope is issued in the future", envelope)
    return envelope


def digest(token: str) -> str:
    """SHA-256 of the exact signed message, as a receipt quotes it."""
    return hashlib.sha256(token.encode()).hexdigest()
