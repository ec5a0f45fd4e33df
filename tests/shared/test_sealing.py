"""Sealed bodies: only the recipient's key opens them, and tampering is detected."""

import pytest
from joserfc.jwk import OKPKey

from shared.protocol.envelope import EnvelopeError
from shared.protocol.sealing import encryption_jwk, seal, unseal


@pytest.fixture
def senaf():
    return OKPKey.generate_key("X25519")


def test_recipient_opens_what_was_sealed_for_it(senaf):
    record = {"child": {"given_names": "Ana"}}
    token = seal(encryption_jwk(senaf), record)
    assert "Ana" not in token
    assert unseal(token, senaf) == record


def test_jwe_header_names_the_algorithms_and_key(senaf):
    import base64
    import json

    header = json.loads(base64.urlsafe_b64decode(seal(encryption_jwk(senaf), {}).split(".")[0]
                                                 + "=="))
    assert (header["alg"], header["enc"], header["kid"]) == (
        "ECDH-ES", "A256GCM", encryption_jwk(senaf)["kid"])
    assert header["epk"]["crv"] == "X25519"


def test_another_key_cannot_open_it(senaf):
    token = seal(encryption_jwk(senaf), {"a": 1})
    with pytest.raises(EnvelopeError) as caught:
        unseal(token, OKPKey.generate_key("X25519"))
    assert caught.value.code == "undecryptable"


def test_tampered_ciphertext_is_detected(senaf):
    parts = seal(encryption_jwk(senaf), {"a": 1}).split(".")
    parts[3] = ("A" if parts[3][0] != "A" else "B") + parts[3][1:]
    with pytest.raises(EnvelopeError):
        unseal(".".join(parts), senaf)


def test_only_x25519_recipient_keys(senaf):
    signing = OKPKey.generate_key("Ed25519").as_dict(private=False)
    with pytest.raises(EnvelopeError) as caught:
        seal(dict(signing), {"a": 1})
    assert caught.value.code == "unsupported_key"
