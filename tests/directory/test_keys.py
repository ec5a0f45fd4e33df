"""Issue #3, point 1 (keys): signing and encryption public keys as JWK, with validity, and
revocation with reason and time; and the gateway client's key methods, through the API."""

from __future__ import annotations

import time
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest
from joserfc.jwk import OKPKey

from services.exchange.directory_client import DirectoryClient
from services.exchange.regional_client import RegionalServiceDown
from tests.directory.conftest import RunningDirectory
from tests.directory.test_entries import assert_problem


def gateway(directory: RunningDirectory, institution: str) -> closing[DirectoryClient]:
    """What a gateway hosting `institution` uses, asking the directory at every question."""
    return closing(DirectoryClient(
        directory.url, {institution: directory.tokens[f"gateway:{institution}"]},
        public_key=directory.public_key, refresh_seconds=0))


def public(curve: str) -> dict:
    return dict(OKPKey.generate_key(curve).as_dict(private=False))


def kid_of(jwk: dict) -> str:
    return str(OKPKey.import_key(jwk).thumbprint())


def test_signing_and_encryption_keys_are_published_as_jwk(directory: RunningDirectory):
    sig, enc = public("Ed25519"), public("X25519")
    with gateway(directory, "mx-pfpnna") as client:
        client.register_signing_key("mx-pfpnna", sig)
        client.register_encryption_key("mx-pfpnna", enc)
        published = {k["kid"]: k for k in
                     directory.client().get("/v1/institutions/mx-pfpnna/jwks").json()["keys"]}
        assert published[kid_of(sig)] == {**sig, "kid": kid_of(sig), "use": "sig",
                                          "alg": "Ed25519"}
        assert published[kid_of(enc)] == {**enc, "kid": kid_of(enc), "use": "enc",
                                          "alg": "ECDH-ES"}
        assert kid_of(sig) in [k["kid"] for k in client.signing_keys("mx-pfpnna")]
        assert kid_of(enc) not in [k["kid"] for k in client.signing_keys("mx-pfpnna")]
        assert client.encryption_key("mx-pfpnna") == published[kid_of(enc)]


def test_the_current_encryption_key_is_the_newest_valid_one(directory: RunningDirectory):
    older, newer = public("X25519"), public("X25519")
    with gateway(directory, "hn-senaf") as client, directory.client("country_admin_HN") as hn:
        client.register_encryption_key("hn-senaf", older)
        client.register_encryption_key("hn-senaf", newer)
        assert client.encryption_key("hn-senaf")["kid"] == kid_of(newer)
        hn.post(f"/v1/institutions/hn-senaf/keys/{kid_of(newer)}/revocation",
                json={"reason": "superseded"})
        assert client.encryption_key("hn-senaf")["kid"] == kid_of(older)
        assert client.encryption_key("mx-inm") is None


def test_a_key_past_its_validity_is_not_published(directory: RunningDirectory):
    expired = public("Ed25519")
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    with directory.client("gateway:mx-pfpnna") as gw:
        assert gw.post("/v1/institutions/mx-pfpnna/keys",
                       json={**expired, "valid_to": yesterday}).status_code == 201
        listed = {k["kid"]: k for k in gw.get("/v1/institutions/mx-pfpnna/keys").json()}
        jwks = gw.get("/v1/institutions/mx-pfpnna/jwks").json()["keys"]
    assert listed[kid_of(expired)]["valid_to"] is not None
    assert kid_of(expired) not in [k["kid"] for k in jwks]


def test_revocation_keeps_the_key_with_reason_and_time(directory: RunningDirectory):
    key = public("Ed25519")
    kid = kid_of(key)
    path = f"/v1/institutions/mx-pfpnna/keys/{kid}/revocation"
    with gateway(directory, "mx-pfpnna") as client, directory.client("country_admin_MX") as mx:
        client.register_signing_key("mx-pfpnna", key)
        assert kid in [k["kid"] for k in client.signing_keys("mx-pfpnna")]
        revoked = mx.post(path, json={"reason": "key-compromise"})
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["revocation_reason"] == "key-compromise"
        assert revoked.json()["revoked_at"]
        assert kid not in [k["kid"] for k in client.signing_keys("mx-pfpnna")]
        assert kid not in [k["kid"] for k in
                           mx.get("/v1/institutions/mx-pfpnna/jwks").json()["keys"]]
        assert_problem(mx.post(path, json={"reason": "other"}), 409, "key_already_revoked")
        with pytest.raises(RegionalServiceDown, match="409"):
            client.register_signing_key("mx-pfpnna", key)
        history = mx.get("/v1/institutions/mx-pfpnna/history").json()["items"]
    key_lines = [h for h in history if h["entity_id"] == kid]
    assert [h["action"] for h in key_lines] == ["registered", "revoked"]
    assert key_lines[1]["actor_institution"] == "mx-sndif"
    assert key_lines[1]["changes"]["revocation_reason"] == [None, "key-compromise"]


def test_who_may_register_and_revoke(directory: RunningDirectory):
    key = public("Ed25519")
    with directory.client("gateway:hn-senaf") as senaf:
        assert_problem(senaf.post("/v1/institutions/mx-sndif/keys", json=key), 403,
                       "not_your_institution")
    with directory.client("country_admin_MX") as mx:
        assert_problem(mx.post("/v1/institutions/mx-sndif/keys", json=key), 403,
                       "role_not_allowed")
    with directory.client("gateway:mx-pfpnna") as own:
        assert own.post("/v1/institutions/mx-pfpnna/keys", json=key).status_code == 201
    path = f"/v1/institutions/mx-pfpnna/keys/{kid_of(key)}/revocation"
    with directory.client("country_admin_HN") as hn:
        assert_problem(hn.post(path, json={"reason": "other"}), 403, "not_your_country")
    with directory.client("gateway:hn-senaf") as other_gateway:
        assert_problem(other_gateway.post(path, json={"reason": "other"}), 403,
                       "role_not_allowed")
    with directory.client("gateway:mx-pfpnna") as own:
        assert_problem(own.post(path, json={"reason": "because"}), 422, "invalid_request")
        assert own.post(path, json={"reason": "superseded"}).status_code == 200
        assert_problem(own.post("/v1/institutions/mx-pfpnna/keys/nope/revocation",
                                json={"reason": "other"}), 404, "key_not_found")


@pytest.mark.parametrize(("body", "code"), [
    ({"kty": "OKP", "crv": "Ed25519", "x": "A" * 40}, "invalid_key"),  # 30 bytes
    ({**public("X25519"), "use": "sig"}, "key_use_mismatch"),
    ({"kty": "EC", "crv": "P-256", "x": "A" * 43}, "invalid_request"),
    ({"kty": "OKP", "crv": "Ed25519"}, "invalid_request"),
])
def test_a_bad_key_is_refused(directory: RunningDirectory, body, code):
    with directory.client("gateway:mx-pfpnna") as gw:
        assert_problem(gw.post("/v1/institutions/mx-pfpnna/keys", json=body), 422, code)


def test_a_new_encryption_key_is_used_as_soon_as_it_is_registered(directory: RunningDirectory):
    """A gateway that refreshes its snapshot rarely still encrypts to the recipient's newest
    key (it asks the directory before answering, at most once a second)."""
    skew = {"seconds": 0.0}
    client = DirectoryClient(
        directory.url, {"hn-senaf": directory.tokens["gateway:hn-senaf"]},
        public_key=directory.public_key, refresh_seconds=3600,
        clock=lambda: time.time() + skew["seconds"])
    with closing(client), directory.client("gateway:hn-senaf") as senaf:
        client.encryption_key("hn-senaf")
        new_enc, new_sig = public("X25519"), public("Ed25519")
        senaf.post("/v1/institutions/hn-senaf/keys", json=new_enc)
        senaf.post("/v1/institutions/hn-senaf/keys", json=new_sig)
        skew["seconds"] = 1.5
        assert client.encryption_key("hn-senaf")["kid"] == kid_of(new_enc)
        assert kid_of(new_sig) in [k["kid"] for k in client.signing_keys("hn-senaf")]
