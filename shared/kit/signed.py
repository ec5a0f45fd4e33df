"""Signed documents: JWS compact serialization, Ed25519 keys as JWK (RFC 8037), key ids
that are RFC 7638 thumbprints, and the checks every signed document gets before it is used.

`verify_signature` checks who signed; `verify_document` checks that, then that the document
is of the kind expected (header `typ`, fixed claims), inside its validity, and not older
than the one already held. The caller names the fields; nothing here knows what they mean.
Algorithm "Ed25519" (RFC 9864) and its older name "EdDSA" are accepted.
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

ACCEPTED_ALGORITHMS = ["Ed25519", "EdDSA"]
# How far ahead of this clock a signer's clock may be (its "issued at" then in the future).
CLOCK_SKEW_SECONDS = 300

warnings.filterwarnings("ignore", message="EdDSA is deprecated")


class DocumentRejected(Exception):
    """Why a signed document cannot be used; `code` is stable, `detail` for people."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class SignatureInvalid(DocumentRejected):
    """Not signed by one of the keys trusted for it (or not a signed JSON object at all)."""


# Keys and signatures ---------------------------------------------------------------------

def thumbprint(key: OKPKey) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url) of the public key: its key id."""
    return str(key.thumbprint())


def import_ed25519_jwk(data: Mapping[str, Any]) -> OKPKey:
    fields = {k: v for k, v in data.items() if k in ("kty", "crv", "x", "d")}
    if fields.get("kty") != "OKP" or fields.get("crv") != "Ed25519":
        raise SignatureInvalid("unsupported_key", "only Ed25519 OKP keys are accepted")
    return OKPKey.import_key(fields)


def _registry(max_payload_bytes: int | None) -> jws.JWSRegistry | None:
    """joserfc refuses payloads over 128 kB by default; a signed document that may be larger
    (a policy snapshot) names its own bound."""
    if max_payload_bytes is None:
        return None
    registry = jws.JWSRegistry(algorithms=ACCEPTED_ALGORITHMS)
    registry.max_payload_length = max_payload_bytes
    return registry


def extract(token: str | bytes, max_payload_bytes: int | None = None) -> jws.CompactSignature:
    """The JWS split and decoded once, not verified: its header, payload bytes and signature,
    for `check_signature` (a large document is then not decoded again)."""
    try:
        return jws.extract_compact(token.encode() if isinstance(token, str) else token,
                                   registry=_registry(max_payload_bytes))
    except (JoseError, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise SignatureInvalid("malformed", "not a JWS compact serialization of JSON") from exc


def unverified_parts(token: str, max_payload_bytes: int | None = None
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload before verification: only to find which key to verify with."""
    compact = extract(token, max_payload_bytes)
    try:
        payload = json.loads(compact.payload)
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        raise SignatureInvalid("malformed", "not a JWS compact serialization of JSON") from exc
    if not isinstance(payload, dict):
        raise SignatureInvalid("malformed", "the payload is not a JSON object")
    return dict(compact.protected), payload


def check_signature(compact: jws.CompactSignature, public_keys: list[dict[str, Any]]) -> None:
    """Check the signature of an extracted JWS with the key named by its `kid` among
    `public_keys`. Raises SignatureInvalid otherwise."""
    header = compact.protected
    if header.get("alg") not in ACCEPTED_ALGORITHMS:
        raise SignatureInvalid("unsupported_algorithm", "the signature algorithm is not accepted")
    kid = header.get("kid")
    candidates = [k for k in public_keys if k.get("kid") == kid]
    if not candidates:
        raise SignatureInvalid("unknown_key", "the signing key is not one of the sender's keys")
    key = import_ed25519_jwk(candidates[0])
    if thumbprint(key) != kid:
        raise SignatureInvalid("unknown_key", "the published key does not match its key id")
    try:
        valid = jws.validate_compact(compact, key, algorithms=ACCEPTED_ALGORITHMS)
    except JoseError as exc:
        raise SignatureInvalid("bad_signature", "the signature does not verify") from exc
    if not valid:
        raise SignatureInvalid("bad_signature", "the signature does not verify")


def verify_signature(token: str, public_keys: list[dict[str, Any]],
                     max_payload_bytes: int | None = None
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Check the signature with the key named by `kid` among `public_keys`; the protected
    header and the payload. Raises SignatureInvalid otherwise."""
    header, payload = unverified_parts(token, max_payload_bytes)
    check_signature(extract(token, max_payload_bytes), public_keys)
    return header, payload


def is_media_type(typ: Any, expected: str) -> bool:
    """RFC 7515 §4.1.9: compared case-insensitively, "application/" may be left out."""
    if not isinstance(typ, str):
        return False
    return typ.lower().removeprefix("application/") == expected.lower().removeprefix(
        "application/")


# Documents -------------------------------------------------------------------------------

@dataclass(frozen=True)
class DocumentKind:
    """What a kind of signed document must say, by the names of its fields. Times are Unix
    seconds; a field named here must be present."""

    name: str  # for people: "directory snapshot"
    media_type: str  # the protected header's `typ`
    claims: Mapping[str, Any] = field(default_factory=dict)  # fields with a fixed value
    issued_at: str | None = None  # not later than now (give or take CLOCK_SKEW_SECONDS)
    expires_at: str | None = None  # later than now, and than issued_at
    order: str | None = None  # grows with each document issued: never below the one held
    max_payload_bytes: int | None = None


def verify_document(token: str, public_key: dict[str, Any], kind: DocumentKind, now: float,
                    held: float | None = None) -> dict[str, Any]:
    """The payload of a document signed with `public_key` that is of `kind`, valid at
    `now` and, given `held` (the `kind.order` of the document held), not older than it.
    Raises SignatureInvalid, or DocumentRejected for a signed document not to be used."""
    header, payload = verify_signature(token, [public_key], kind.max_payload_bytes)
    if not is_media_type(header.get("typ"), kind.media_type):
        raise DocumentRejected("wrong_type", f"not a {kind.name} (typ {kind.media_type})")
    for name, value in kind.claims.items():
        if payload.get(name) != value:
            raise DocumentRejected("wrong_type", f"not a {kind.name} ({name} is not {value!r})")
    issued_at = _number(payload, kind.issued_at, kind)
    expires_at = _number(payload, kind.expires_at, kind)
    if issued_at is not None and issued_at > now + CLOCK_SKEW_SECONDS:
        raise DocumentRejected("issued_in_future", f"the {kind.name} is issued in the future")
    if expires_at is not None and expires_at <= now:
        raise DocumentRejected("expired", f"the {kind.name} has expired")
    if issued_at is not None and expires_at is not None and expires_at <= issued_at:
        raise DocumentRejected("invalid_lifetime", f"the {kind.name} expires before it is issued")
    order = _number(payload, kind.order, kind)
    if order is not None and held is not None and order < held:
        raise DocumentRejected("older_than_held", f"the {kind.name} is older than the one held")
    return payload


def _number(payload: dict[str, Any], name: str | None, kind: DocumentKind) -> float | None:
    if name is None:
        return None
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DocumentRejected("malformed", f"the {kind.name} has no valid {name}")
    return float(value)
