"""The signed envelope: Ed25519 keys as JWK, RFC 7638 thumbprints as key ids, JWS compact.

Signed with alg "Ed25519" (RFC 9864); "EdDSA", the older name for the same algorithm,
is accepted when verifying so that peers on older JOSE libraries interoperate.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

PROTOCOL_VERSION = "1"
SIGNING_ALGORITHM = "Ed25519"
ACCEPTED_ALGORITHMS = ["Ed25519", "EdDSA"]
ENVELOPE_MEDIA_TYPE = "enlace-envelope+jws"
# The longest validity (`exp` - `iat`) a receiver accepts: the stream keeps a message no
# longer (shared.kit.jetstream.STREAM_MAX_AGE_SECONDS).
MAX_LIFETIME_SECONDS = 30 * 24 * 3600

warnings.filterwarnings("ignore", message="EdDSA is deprecated")


class EnvelopeError(Exception):
    """Why an envelope cannot be trusted; `code` is stable and goes to quarantine."""

    def __init__(self, code: str, detail: str, envelope: Envelope | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        # Set when the signature verified and the envelope is well-formed, so that the
        # proven sender can be answered.
        self.envelope = envelope


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
    return str(key.thumbprint())


def public_jwk(key: OKPKey) -> dict[str, Any]:
    jwk = dict(key.as_dict(private=False))
    jwk.update({"kid": key_id(key), "use": "sig", "alg": SIGNING_ALGORITHM})
    return jwk


def import_jwk(data: dict[str, Any]) -> OKPKey:
    fields = {k: v for k, v in data.items() if k in ("kty", "crv", "x", "d")}
    if fields.get("kty") != "OKP" or fields.get("crv") != "Ed25519":
        raise EnvelopeError("unsupported_key", "only Ed25519 OKP keys are accepted")
    return OKPKey.import_key(fields)


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


def _registry(max_payload_bytes: int | None) -> jws.JWSRegistry | None:
    """joserfc refuses payloads over 128 kB by default; a signed document that may be larger
    (a policy snapshot) names its own bound."""
    if max_payload_bytes is None:
        return None
    registry = jws.JWSRegistry(algorithms=ACCEPTED_ALGORITHMS)
    registry.max_payload_length = max_payload_bytes
    return registry


def unverified_parts(token: str, max_payload_bytes: int | None = None
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload before verification: only to find which key to verify with."""
    try:
        compact = jws.extract_compact(token.encode() if isinstance(token, str) else token,
                                      registry=_registry(max_payload_bytes))
        payload = json.loads(compact.payload)
    except (JoseError, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise EnvelopeError("malformed", "not a JWS compact serialization of JSON") from exc
    if not isinstance(payload, dict):
        raise EnvelopeError("malformed", "the payload is not a JSON object")
    return dict(compact.protected), payload


def verify(token: str, public_keys: list[dict[str, Any]], max_payload_bytes: int | None = None
           ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check the signature with the key named by `kid` among `public_keys`.

    Returns the protected header and the payload. Raises EnvelopeError otherwise.
    """
    header, _ = unverified_parts(token, max_payload_bytes)
    if header.get("alg") not in ACCEPTED_ALGORITHMS:
        raise EnvelopeError("unsupported_algorithm", "the signature algorithm is not accepted")
    kid = header.get("kid")
    candidates = [k for k in public_keys if k.get("kid") == kid]
    if not candidates:
        raise EnvelopeError("unknown_key", "the signing key is not one of the sender's keys")
    key = import_jwk(candidates[0])
    if key_id(key) != kid:
        raise EnvelopeError("unknown_key", "the published key does not match its key id")
    try:
        verified = jws.deserialize_compact(token, key, algorithms=ACCEPTED_ALGORITHMS,
                                           registry=_registry(max_payload_bytes))
    except JoseError as exc:
        raise EnvelopeError("bad_signature", "the signature does not verify") from exc
    return dict(verified.headers()), json.loads(verified.payload)


def verify_envelope(
    token: str, sender_keys: list[dict[str, Any]], now: datetime | None = None
) -> Envelope:
    """Verify signature, then shape, then that the sender signed as itself and in time."""
    header, payload = verify(token, sender_keys)
    if not _is_envelope_type(header.get("typ")):
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
    if envelope.iat > moment + 300:
        raise EnvelopeError("issued_in_future", "the envelope is issued in the future", envelope)
    return envelope


def _is_envelope_type(typ: Any) -> bool:
    # RFC 7515 §4.1.9: compared case-insensitively, "application/" may be left out.
    if not isinstance(typ, str):
        return False
    typ = typ.lower()
    return typ.removeprefix("application/") == ENVELOPE_MEDIA_TYPE


def digest(token: str) -> str:
    """SHA-256 of the exact signed message, as a receipt quotes it."""
    return hashlib.sha256(token.encode()).hexdigest()
