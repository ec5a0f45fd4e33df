"""Issue 10, point 1: the one verifier of signed documents (shared/kit/signed.py)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import OKPKey

from shared.kit.signed import (
    CLOCK_SKEW_SECONDS,
    DocumentKind,
    DocumentRejected,
    SignatureInvalid,
    thumbprint,
    verify_document,
    verify_signature,
)

NOW = 1_800_000_000.0
KIND = DocumentKind("roster", "example-roster+jws", claims={"iss": "example-issuer"},
                    issued_at="iat", expires_at="exp", order="version")


def public(key: OKPKey) -> dict[str, Any]:
    return {**key.as_dict(private=False), "kid": thumbprint(key)}


def signed_by(key: OKPKey, payload: dict[str, Any], typ: str = "example-roster+jws",
              alg: str = "Ed25519", kid: str | None = None) -> str:
    header = {"alg": alg, "kid": kid or thumbprint(key), "typ": typ}
    return str(jws.serialize_compact(header, json.dumps(payload).encode(), key,
                                     algorithms=[alg]))


def roster(**fields: Any) -> dict[str, Any]:
    return {"iss": "example-issuer", "iat": int(NOW), "exp": int(NOW) + 60, "version": 7,
            **fields}


@pytest.fixture(scope="module")
def key() -> OKPKey:
    return OKPKey.generate_key("Ed25519")


def rejected(token: str, key: OKPKey, held: float | None = None,
             kind: DocumentKind = KIND) -> DocumentRejected:
    with pytest.raises(DocumentRejected) as caught:
        verify_document(token, public(key), kind, NOW, held)
    return caught.value


def test_a_document_of_its_kind_in_time_gives_its_payload(key: OKPKey):
    assert verify_document(signed_by(key, roster()), public(key), KIND, NOW) == roster()


def test_the_older_name_of_the_algorithm_is_accepted(key: OKPKey):
    assert verify_signature(signed_by(key, roster(), alg="EdDSA"), [public(key)])[1] == roster()


def test_another_key_or_a_changed_payload_is_an_invalid_signature(key: OKPKey):
    other = OKPKey.generate_key("Ed25519")
    assert isinstance(rejected(signed_by(other, roster()), key), SignatureInvalid)
    assert rejected(signed_by(other, roster()), key).code == "unknown_key"
    # Signed by another key under this key's id.
    forged = signed_by(other, roster(), kid=thumbprint(key))
    assert rejected(forged, key).code == "bad_signature"
    head, _, signature = signed_by(key, roster()).split(".")
    changed = base64.urlsafe_b64encode(json.dumps(roster(version=8)).encode()).rstrip(b"=")
    tampered = f"{head}.{changed.decode()}.{signature}"
    assert rejected(tampered, key).code == "bad_signature"
    assert rejected("not a jws", key).code == "malformed"


def test_a_published_key_whose_id_is_not_its_thumbprint_is_refused(key: OKPKey):
    liar = {**public(key), "kid": "some-other-id"}
    token = signed_by(key, roster(), kid="some-other-id")
    with pytest.raises(SignatureInvalid, match="unknown_key"):
        verify_document(token, liar, KIND, NOW)


def test_a_document_of_another_type_is_refused(key: OKPKey):
    error = rejected(signed_by(key, roster(), typ="example-invoice+jws"), key)
    assert error.code == "wrong_type" and not isinstance(error, SignatureInvalid)
    assert rejected(signed_by(key, roster(iss="someone-else")), key).code == "wrong_type"


def test_the_type_compares_as_rfc_7515_says(key: OKPKey):
    token = signed_by(key, roster(), typ="application/Example-Roster+JWS")
    assert verify_document(token, public(key), KIND, NOW)["version"] == 7


def test_an_expired_document_is_refused(key: OKPKey):
    assert rejected(signed_by(key, roster(exp=int(NOW))), key).code == "expired"


def test_a_document_issued_in_the_future_is_refused_beyond_the_clock_skew(key: OKPKey):
    soon = roster(iat=int(NOW) + CLOCK_SKEW_SECONDS, exp=int(NOW) + 2 * CLOCK_SKEW_SECONDS)
    assert verify_document(signed_by(key, soon), public(key), KIND, NOW) == soon
    later = roster(iat=int(NOW) + CLOCK_SKEW_SECONDS + 1, exp=int(NOW) + 3600)
    assert rejected(signed_by(key, later), key).code == "issued_in_future"


def test_a_document_that_expires_before_it_is_issued_is_refused(key: OKPKey):
    backwards = roster(iat=int(NOW) + 100, exp=int(NOW) + 50)
    assert rejected(signed_by(key, backwards), key).code == "invalid_lifetime"


@pytest.mark.parametrize("field", ["iat", "exp", "version"])
@pytest.mark.parametrize("value", [None, "1800000000", True, float("inf")])
def test_a_time_or_order_that_is_not_a_number_is_malformed(key: OKPKey, field: str,
                                                           value: Any):
    payload = roster(**{field: value})
    if value is None:
        del payload[field]
    # (json.dumps writes infinity as Infinity, which Python's json reads back as a float.)
    assert rejected(signed_by(key, payload), key).code == "malformed"


def test_a_document_older_than_the_one_held_is_refused(key: OKPKey):
    token = signed_by(key, roster(version=7))
    assert rejected(token, key, held=8).code == "older_than_held"
    assert verify_document(token, public(key), KIND, NOW, held=7)["version"] == 7
    assert verify_document(token, public(key), KIND, NOW, held=None)["version"] == 7


def test_only_the_fields_named_are_checked(key: OKPKey):
    plain = DocumentKind("note", "example-note+jws")
    token = signed_by(key, {"text": "no times at all"}, typ="example-note+jws")
    assert verify_document(token, public(key), plain, NOW, held=99) == {"text": "no times at all"}


def test_a_large_document_needs_its_kind_to_say_so(key: OKPKey):
    big = roster(members=["x" * 100] * 2000)  # about 200 kB: over joserfc's default
    token = signed_by(key, big)
    assert isinstance(rejected(token, key), SignatureInvalid)
    roomy = DocumentKind(**{**KIND.__dict__, "max_payload_bytes": 1_000_000})
    assert verify_document(token, public(key), roomy, NOW)["version"] == 7
