"""The envelope: signatures verify, and every kind of tampering is caught."""

import base64
import json

import pytest

from shared.protocol.envelope import (
    MAX_LIFETIME_SECONDS,
    Envelope,
    EnvelopeError,
    generate_signing_key,
    key_id,
    public_jwk,
    sign,
    sign_envelope,
    verify,
    verify_envelope,
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.fixture
def mx_key():
    return generate_signing_key()


@pytest.fixture
def hn_key():
    return generate_signing_key()


def referral(**overrides):
    fields = {"type": "referral", "sender": "mx-sndif", "recipients": ["hn-senaf"],
              "agreement": "agr-1", "purpose": "reception-and-care",
              "categories": ["identity"], "body": {"record": {"child": {"given_names": "X"}}}}
    return Envelope.new(ttl_seconds=3600, **{**fields, **overrides})


def test_signed_envelope_verifies_with_the_senders_key(mx_key):
    envelope = referral()
    token = sign_envelope(envelope, mx_key)
    assert verify_envelope(token, [public_jwk(mx_key)]) == envelope


def test_key_id_is_the_rfc7638_thumbprint(mx_key):
    import hashlib

    jwk = public_jwk(mx_key)
    canonical = json.dumps({"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]},
                           separators=(",", ":"), sort_keys=True)
    assert key_id(mx_key) == b64(hashlib.sha256(canonical.encode()).digest())
    assert jwk["kid"] == key_id(mx_key)


def test_protected_header_names_algorithm_and_key(mx_key):
    token = sign_envelope(referral(), mx_key)
    header = json.loads(unb64(token.split(".")[0]))
    assert header == {"alg": "Ed25519", "kid": key_id(mx_key), "typ": "enlace-envelope+jws"}


def test_changed_body_is_detected(mx_key):
    header, payload, signature = sign_envelope(referral(), mx_key).split(".")
    data = json.loads(unb64(payload))
    data["body"]["record"]["child"]["given_names"] = "Y"
    forged = ".".join([header, b64(json.dumps(data).encode()), signature])
    with pytest.raises(EnvelopeError) as caught:
        verify_envelope(forged, [public_jwk(mx_key)])
    assert caught.value.code == "bad_signature"


def test_changed_routing_field_is_detected(mx_key):
    header, payload, signature = sign_envelope(referral(), mx_key).split(".")
    data = json.loads(unb64(payload))
    data["recipients"] = ["gt-sbs"]
    forged = ".".join([header, b64(json.dumps(data).encode()), signature])
    with pytest.raises(EnvelopeError) as caught:
        verify_envelope(forged, [public_jwk(mx_key)])
    assert caught.value.code == "bad_signature"


def test_changed_header_is_detected(mx_key):
    header, payload, signature = sign_envelope(referral(), mx_key).split(".")
    data = json.loads(unb64(header))
    data["typ"] = "something-else"
    forged = ".".join([b64(json.dumps(data).encode()), payload, signature])
    with pytest.raises(EnvelopeError) as caught:
        verify_envelope(forged, [public_jwk(mx_key)])
    assert caught.value.code == "bad_signature"


def test_header_swapped_to_none_algorithm_is_refused(mx_key):
    _, payload, signature = sign_envelope(referral(), mx_key).split(".")
    forged = ".".join([b64(json.dumps({"alg": "none", "kid": key_id(mx_key)}).encode()),
                       payload, signature])
    with pytest.raises(EnvelopeError) as caught:
        verify_envelope(forged, [public_jwk(mx_key)])
    assert caught.value.code == "unsupported_algorithm"


def test_wrong_key_with_forged_key_id_is_detected(mx_key):
    intruder = generate_signing_key()
    envelope = referral()
    # The intruder claims the sender's key id but signs with its own key.
    header = {"alg": "Ed25519", "kid": key_id(mx_key), "typ": "enlace-envelope+jws"}
    from joserfc import jws

    token = jws.serialize_compact(
        header, json.dumps(envelope.model_dump(mode="json")).encode(), intruder,
        algorithms=["Ed25519"],
    )
    with pytest.raises(EnvelopeError) as caught:
        verify_envelope(token, [public_jwk(mx_key)])
    assert caught.value.code == "bad_signature"


def test_another_institutions_key_is_not_accepted(mx_key, hn_key):
    # Signed with Honduras' real key, claiming to come from Mexico: Mexico's keys don't match.
    token = sign_envelope(referral(sender="mx-sndif"), hn_key)
    with pytest.raises(EnvelopeError) as caught:
        verify_envelope(token, [public_jwk(mx_key)])
    assert caught.value.code == "unknown_key"


def test_published_key_that_does_not_match_its_kid_is_refused(mx_key, hn_key):
    token = sign_envelope(referral(), mx_key)
    mislabelled = {**public_jwk(hn_key), "kid": key_id(mx_key)}
    with pytest.raises(EnvelopeError) as caught:
        verify_envelope(token, [mislabelled])
    assert caught.value.code == "unknown_key"


def test_expired_envelope_is_refused(mx_key):
    envelope = referral()
    envelope.iat, envelope.exp = envelope.iat - 7200, envelope.iat - 1
    with pytest.raises(EnvelopeError) as caught:
        verify_envelope(sign_envelope(envelope, mx_key), [public_jwk(mx_key)])
    assert caught.value.code == "expired"


def test_unknown_protocol_version_is_refused(mx_key):
    envelope = referral()
    envelope.v = "99"
    with pytest.raises(EnvelopeError) as caught:
        verify_envelope(sign_envelope(envelope, mx_key), [public_jwk(mx_key)])
    assert caught.value.code == "unsupported_version"


def test_signed_payload_with_unknown_fields_is_malformed(mx_key):
    data = referral().model_dump(mode="json") | {"extra": 1}
    with pytest.raises(EnvelopeError) as caught:
        verify_envelope(sign(data, mx_key), [public_jwk(mx_key)])
    assert caught.value.code == "malformed"


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "....", "eyJ9.eyJ9.x"])
def test_garbage_is_malformed(mx_key, garbage):
    with pytest.raises(EnvelopeError) as caught:
        verify(garbage, [public_jwk(mx_key)])
    assert caught.value.code == "malformed"


def test_legacy_eddsa_algorithm_name_is_accepted(mx_key):
    from joserfc import jws

    envelope = referral()
    token = jws.serialize_compact(
        {"alg": "EdDSA", "kid": key_id(mx_key), "typ": "enlace-envelope+jws"},
        json.dumps(envelope.model_dump(mode="json")).encode(), mx_key, algorithms=["EdDSA"],
    )
    assert verify_envelope(token, [public_jwk(mx_key)]).id == envelope.id


def signed_with_header(key, envelope: Envelope, header: dict) -> str:
    from joserfc import jws

    return str(jws.serialize_compact(
        {"alg": "Ed25519", "kid": key_id(key), **header},
        json.dumps(envelope.model_dump(mode="json")).encode(), key, algorithms=["Ed25519"]))


@pytest.mark.parametrize("header", [{}, {"typ": "JWT"}, {"typ": "enlace-directory-snapshot+jws"}])
def test_a_header_typ_other_than_the_envelopes_is_refused(mx_key, header):
    with pytest.raises(EnvelopeError) as caught:
        verify_envelope(signed_with_header(mx_key, referral(), header), [public_jwk(mx_key)])
    assert caught.value.code == "unsupported_typ"
    assert caught.value.envelope is None  # nothing to answer: no rejection notice


@pytest.mark.parametrize("typ", ["enlace-envelope+jws", "application/enlace-envelope+jws",
                                 "Enlace-Envelope+JWS"])
def test_the_envelope_typ_is_compared_as_rfc_7515_says(mx_key, typ):
    envelope = referral()
    token = signed_with_header(mx_key, envelope, {"typ": typ})
    assert verify_envelope(token, [public_jwk(mx_key)]).id == envelope.id


@pytest.mark.parametrize("lifetime", [0, -60, MAX_LIFETIME_SECONDS + 1, 10 ** 12])
def test_a_lifetime_that_is_not_positive_and_at_most_the_maximum_is_refused(mx_key, lifetime):
    envelope = referral()
    envelope.exp = envelope.iat + lifetime
    with pytest.raises(EnvelopeError) as caught:
        verify_envelope(sign_envelope(envelope, mx_key), [public_jwk(mx_key)])
    assert caught.value.code == "invalid_lifetime"
    assert caught.value.envelope == envelope  # proven sender: it can be told


def test_the_longest_lifetime_allowed_is_the_streams_max_age(mx_key):
    from shared.kit.jetstream import STREAM_MAX_AGE_SECONDS

    assert MAX_LIFETIME_SECONDS == STREAM_MAX_AGE_SECONDS
    envelope = referral()
    envelope.exp = envelope.iat + MAX_LIFETIME_SECONDS
    assert verify_envelope(sign_envelope(envelope, mx_key), [public_jwk(mx_key)]) == envelope


def test_errors_after_the_signature_carry_the_envelope_to_answer(mx_key):
    future = referral()
    future.iat, future.exp = future.iat + 3600, future.iat + 7200
    with pytest.raises(EnvelopeError) as caught:
        verify_envelope(sign_envelope(future, mx_key), [public_jwk(mx_key)])
    assert (caught.value.code, caught.value.envelope) == ("issued_in_future", future)

    other_version = referral()
    other_version.v = "Maria"
    with pytest.raises(EnvelopeError) as caught:
        verify_envelope(sign_envelope(other_version, mx_key), [public_jwk(mx_key)])
    assert caught.value.code == "unsupported_version"
    assert "Maria" not in caught.value.detail  # the sender's text is not repeated
