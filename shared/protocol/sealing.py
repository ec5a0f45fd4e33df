"""Bodies only the recipient may read: JWE compact, ECDH-ES over X25519 with A256GCM.

A referral's record, the details of its updates, everything an alert says about the child
(its public part too: public to the focal points, not to the wire), who acknowledged it and
where a child was found travel sealed; NATS, its operators and the regional services see
routing fields only.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import OKPKey

from shared.protocol.envelope import EnvelopeError

KEY_ALGORITHM = "ECDH-ES"
CONTENT_ALGORITHM = "A256GCM"
ALGORITHMS = [KEY_ALGORITHM, CONTENT_ALGORITHM]
CURVE: Literal["X25519"] = "X25519"


def encryption_jwk(key: OKPKey) -> dict[str, Any]:
    """The public half, as published in the directory."""
    jwk = dict(key.as_dict(private=False))
    jwk.update({"kid": str(key.thumbprint()), "use": "enc", "alg": KEY_ALGORITHM})
    return jwk


def seal(recipient_jwk: dict[str, Any], data: dict[str, Any]) -> str:
    fields = {k: v for k, v in recipient_jwk.items() if k in ("kty", "crv", "x")}
    if fields.get("crv") != CURVE:
        raise EnvelopeError("unsupported_key", "the recipient's encryption key is not X25519")
    key = OKPKey.import_key(fields)
    header = {"alg": KEY_ALGORITHM, "enc": CONTENT_ALGORITHM, "kid": str(key.thumbprint())}
    plaintext = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return str(jwe.encrypt_compact(header, plaintext, key, algorithms=ALGORITHMS))


def unseal(token: str, key: OKPKey) -> dict[str, Any]:
    try:
        plaintext = jwe.decrypt_compact(token, key, algorithms=ALGORITHMS).plaintext
        data = json.loads(plaintext or b"")
    except (JoseError, ValueError, TypeError) as exc:
        raise EnvelopeError("undecryptable", "the body cannot be decrypted with this "
                            "gateway's key") from exc
    if not isinstance(data, dict):
        raise EnvelopeError("undecryptable", "the decrypted body is not a JSON object")
    return data
