"""What the directory accepts as an institution's public key, checked fully at registration.

Each refusal has its own problem code (docs/directory.md, "Keys"). Points are checked with
the libraries underneath, never by hand: an X25519 key must give a non-zero shared secret
(the cryptography package refuses the all-zero result that every small-order point gives),
and an Ed25519 key must decode to a point of the prime-order subgroup (libsodium, through
PyNaCl, refuses small-order, undecodable and mixed-order points when converting it).
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any

import nacl.bindings
import nacl.exceptions
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from joserfc.jwk import OKPKey

from shared.kit.errors import Unprocessable
from shared.kit.signed import ACCEPTED_ALGORITHMS
from shared.protocol.envelope import SIGNING_ALGORITHM

ENCRYPTION_ALGORITHM = "ECDH-ES"
# curve: (use, the algorithm published, the algorithms a registration may name)
KEY_USES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "Ed25519": ("sig", SIGNING_ALGORITHM, tuple(ACCEPTED_ALGORITHMS)),
    "X25519": ("enc", ENCRYPTION_ALGORITHM, (ENCRYPTION_ALGORITHM,)),
}
# Members of private JWKs (RFC 7518 §6, RFC 8037 §2): none may be sent to the directory.
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
KEY_BYTES = 32


def _refuse(code: str, detail: str) -> Unprocessable:
    return Unprocessable(detail, code=code)


def _point(x: Any) -> bytes:
    """The 32 bytes of `x`, which must be unpadded base64url."""
    if not isinstance(x, str) or len(x) != 43 or "=" in x:
        raise _refuse("invalid_key", "'x' must be the 32 bytes of the key in unpadded "
                                     "base64url (43 characters).")
    try:
        raw = base64.urlsafe_b64decode(x + "=")
    except (binascii.Error, ValueError) as exc:
        raise _refuse("invalid_key", "'x' is not base64url.") from exc
    if len(raw) != KEY_BYTES or base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != x:
        raise _refuse("invalid_key", "'x' is not the canonical base64url of 32 bytes.")
    return raw


def _check_point(curve: str, raw: bytes) -> None:
    if curve == "X25519":
        try:
            X25519PrivateKey.generate().exchange(X25519PublicKey.from_public_bytes(raw))
        except ValueError as exc:
            raise _refuse("low_order_key", "This X25519 point has a small order: anything "
                                           "encrypted to it could be read by anyone.") from exc
        return
    try:
        nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(raw)
    except (nacl.exceptions.CryptoError, ValueError) as exc:
        raise _refuse("low_order_key", "This is not an Ed25519 point of the prime-order "
                                       "subgroup (small-order or not on the curve).") from exc


def checked_public_key(jwk: dict[str, Any]) -> tuple[OKPKey, str, str]:
    """The key, its use and its algorithm, for a JWK the directory may publish."""
    if any(member in jwk for member in PRIVATE_MEMBERS):
        raise _refuse("private_key_member", "The key has a private member ('d'): send only "
                                            "the public half, and treat this private key as "
                                            "disclosed.")
    if jwk.get("kty") != "OKP":
        raise _refuse("unsupported_key_type", "Keys are of type 'OKP' (RFC 8037).")
    curve = jwk.get("crv")
    if curve not in KEY_USES:
        raise _refuse("unsupported_curve", "Keys are Ed25519 (signing) or X25519 "
                                           "(encryption).")
    use, alg, accepted = KEY_USES[str(curve)]
    if jwk.get("use") not in (None, use):
        raise _refuse("key_use_mismatch", f"A {curve} key is for use '{use}'.")
    if jwk.get("alg") not in (None, *accepted):
        raise _refuse("key_alg_mismatch", f"A {curve} key is for algorithm '{alg}'.")
    raw = _point(jwk.get("x"))
    _check_point(str(curve), raw)
    return OKPKey.import_key({"kty": "OKP", "crv": curve, "x": jwk["x"]}), use, alg


def with_validity(jwk: dict[str, Any], valid_from: datetime,
                  valid_to: datetime | None) -> dict[str, Any]:
    """The JWK as the public JWKS shows it: `nbf` and, if it ends, `exp` (Unix seconds)."""
    validity = {"nbf": int(valid_from.timestamp())}
    if valid_to is not None:
        validity["exp"] = int(valid_to.timestamp())
    return {**jwk, **validity}
