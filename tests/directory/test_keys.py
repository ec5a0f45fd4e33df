"""Issue #3, point 1 (keys): signing and encryption public keys as JWK, with validity, and
revocation with reason and time; and the gateway client's key methods, through the API."""

from __future__ import annotations

import base64
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from joserfc.jwk import OKPKey

from services.exchange.clients.directory import DirectoryClient
from services.exchange.clients.regional import RegionalServiceRefused
from tests.directory.conftest import RunningDirectory, institution_body
from tests.directory.test_snapshot import fetch, verified
from tests.helpers import assert_problem, unique, wait_until


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
        listed = {k["kid"]: k for k in
                  directory.client().get("/v1/institutions/mx-pfpnna/keys").json()["items"]}
        nbf = {kid: int(datetime.fromisoformat(k["valid_from"]).timestamp())
               for kid, k in listed.items()}
        assert published[kid_of(sig)] == {**sig, "kid": kid_of(sig), "use": "sig",
                                          "alg": "Ed25519", "nbf": nbf[kid_of(sig)]}
        assert published[kid_of(enc)] == {**enc, "kid": kid_of(enc), "use": "enc",
                                          "alg": "ECDH-ES", "nbf": nbf[kid_of(enc)]}
        assert kid_of(sig) in [k["kid"] for k in client.signing_keys("mx-pfpnna")]
        assert kid_of(enc) not in [k["kid"] for k in client.signing_keys("mx-pfpnna")]
        assert client.encryption_key("mx-pfpnna") == listed[kid_of(enc)]["jwk"]


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
        listed = {k["kid"]: k for k in gw.get("/v1/institutions/mx-pfpnna/keys").json()["items"]}
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
        with pytest.raises(RegionalServiceRefused, match="409"):
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


def b64(hex_bytes: str) -> str:
    return base64.urlsafe_b64encode(bytes.fromhex(hex_bytes)).rstrip(b"=").decode()


# Points of small order, and non-canonical encodings of them (p-1, p, p+1 as u or y).
SMALL_ORDER = ["00" * 32, "01" + "00" * 31,
               "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
               "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
               "ec" + "ff" * 30 + "7f", "ed" + "ff" * 30 + "7f", "ee" + "ff" * 30 + "7f"]


@pytest.mark.parametrize(("body", "code"), [
    ({"kty": "OKP", "crv": "Ed25519", "x": "A" * 40}, "invalid_key"),  # 30 bytes
    ({"kty": "OKP", "crv": "X25519", "x": "A" * 42 + "="}, "invalid_key"),  # padded
    ({"kty": "OKP", "crv": "X25519", "x": "+" * 43}, "invalid_key"),  # not base64url
    ({"kty": "OKP", "crv": "X25519", "x": "A" * 42 + "B"}, "invalid_key"),  # not canonical
    ({**public("X25519"), "use": "sig"}, "key_use_mismatch"),
    ({**public("Ed25519"), "use": "enc"}, "key_use_mismatch"),
    ({**public("Ed25519"), "alg": "ES256"}, "key_alg_mismatch"),
    ({**public("X25519"), "alg": "Ed25519"}, "key_alg_mismatch"),
    ({"kty": "EC", "crv": "P-256", "x": "A" * 43, "y": "A" * 43}, "unsupported_key_type"),
    ({"kty": "OKP", "crv": "Ed448", "x": "A" * 57}, "unsupported_curve"),
    ({"kty": "OKP", "crv": "X448", "x": "A" * 56}, "unsupported_curve"),
    (dict(OKPKey.generate_key("Ed25519").as_dict(private=True)), "private_key_member"),
    (dict(OKPKey.generate_key("X25519").as_dict(private=True)), "private_key_member"),
    ({"kty": "OKP", "crv": "Ed25519"}, "invalid_request"),
    *(({"kty": "OKP", "crv": "X25519", "x": b64(p)}, "low_order_key") for p in SMALL_ORDER),
    *(({"kty": "OKP", "crv": "Ed25519", "x": b64(p)}, "low_order_key") for p in SMALL_ORDER),
])
def test_a_bad_key_is_refused(directory: RunningDirectory, body, code):
    with directory.client("gateway:mx-pfpnna") as gw:
        before = gw.get("/v1/institutions/mx-pfpnna/keys").json()["items"]
        refused = gw.post("/v1/institutions/mx-pfpnna/keys", json=body)
        assert_problem(refused, 422, code)
        assert "x" not in body or body["x"] not in refused.text  # never echoed
        assert gw.get("/v1/institutions/mx-pfpnna/keys").json()["items"] == before


def test_the_keys_of_a_deactivated_institution_stop_verifying(directory: RunningDirectory):
    """Deactivating an institution takes its keys out of the public JWKS at once, and a
    gateway holding an older snapshot stops using them at its next refresh (here: the next
    question, refresh_seconds=0)."""
    institution = unique("mx-albergue")
    sig, enc = public("Ed25519"), public("X25519")
    with directory.client() as admin:
        assert admin.post("/v1/institutions", json=institution_body(
            institution, gateway_country="MX")).status_code == 201
        issued = admin.post(f"/v1/institutions/{institution}/credentials").json()
    with closing(DirectoryClient(directory.url, {institution: issued["token"]},
                                 public_key=directory.public_key, refresh_seconds=0)) as client:
        client.register_signing_key(institution, sig)
        client.register_encryption_key(institution, enc)
        assert [k["kid"] for k in client.signing_keys(institution)] == [kid_of(sig)]
        with directory.client() as admin:
            assert len(admin.get(f"/v1/institutions/{institution}/jwks").json()["keys"]) == 2
            assert admin.patch(f"/v1/institutions/{institution}",
                               json={"active": False}).status_code == 200
            assert admin.get(f"/v1/institutions/{institution}/jwks").json() == {"keys": []}
            snapshot_keys = verified(directory, fetch(directory))["keys"]
            assert kid_of(sig) in [k["kid"] for k in snapshot_keys]  # kept, for history
        assert client.signing_keys(institution) == []
        assert client.encryption_key(institution) is None
        with directory.client() as admin:
            assert admin.patch(f"/v1/institutions/{institution}",
                               json={"active": True}).status_code == 200
        assert [k["kid"] for k in client.signing_keys(institution)] == [kid_of(sig)]


def test_the_public_jwks_says_when_each_key_is_valid(directory: RunningDirectory):
    """`nbf` and `exp` (Unix seconds) on each key of the JWKS: a peer picks the newest key
    valid now without a token."""
    older, newer = public("X25519"), public("X25519")
    until = datetime.now(UTC) + timedelta(days=30)
    with directory.client("gateway:mx-sndif") as gw:
        gw.post("/v1/institutions/mx-sndif/keys", json=older)
        registered_by = int(time.time())
        # A later second, so that nbf orders them.
        wait_until(lambda: int(time.time()) > registered_by, interval=0.05)
        gw.post("/v1/institutions/mx-sndif/keys", json={**newer, "valid_to": until.isoformat()})
    with httpx.Client(base_url=directory.url) as anonymous:
        keys = {k["kid"]: k for k in anonymous.get("/v1/institutions/mx-sndif/jwks")
                .json()["keys"]}
    assert "exp" not in keys[kid_of(older)]
    assert keys[kid_of(newer)]["exp"] == int(until.timestamp())
    now = time.time()
    current = max((k for k in keys.values() if k["use"] == "enc" and k["nbf"] <= now
                   and k.get("exp", now + 1) > now), key=lambda k: k["nbf"])
    assert current["kid"] == kid_of(newer)


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
