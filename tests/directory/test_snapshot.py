"""Issue #3, point 4: the signed snapshot, its changes since a version, and a gateway that
verifies it, caches it, and keeps working from it while the directory is down."""

from __future__ import annotations

import base64
import json
import time
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from joserfc import jws
from joserfc.errors import BadSignatureError
from joserfc.jwk import OKPKey

from services.exchange.clients.directory import DirectoryClient, UnknownInstitution
from services.exchange.clients.regional import RegionalServiceDown
from shared.protocol.directory_search import RecordSearch
from shared.protocol.envelope import generate_signing_key, public_jwk
from tests.directory.conftest import RunningDirectory, focal_point_body, institution_body
from tests.helpers import assert_problem, unique


def fetch(directory: RunningDirectory, since: int | None = None) -> str:
    with directory.client("gateway:hn-senaf") as gw:
        response = gw.get("/v1/snapshot", params={} if since is None else {"since": since})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/jose"
    return response.text


def verified(directory: RunningDirectory, token: str) -> dict:
    """Verified with the stock JOSE library and the directory's public key only."""
    key = OKPKey.import_key(directory.public_key)
    return json.loads(jws.deserialize_compact(token, key, algorithms=["Ed25519"]).payload)


def test_the_snapshot_is_the_whole_directory_signed_by_the_directory(
        directory: RunningDirectory):
    key = dict(OKPKey.generate_key("Ed25519").as_dict(private=False))
    with directory.client("gateway:mx-pfpnna") as gw:
        registered = gw.post("/v1/institutions/mx-pfpnna/keys", json=key)
    assert registered.status_code == 201, registered.text
    kid = registered.json()["kid"]
    token = fetch(directory)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    payload = verified(directory, token)
    assert header == {"alg": "Ed25519", "kid": directory.public_key["kid"],
                      "typ": "enlace-directory-snapshot+jws"}
    assert payload["iss"] == "enlace-directory"
    assert payload["since"] is None and payload["version"] >= 1
    assert payload["exp"] - payload["iat"] == directory.settings.directory_snapshot_ttl_seconds
    assert abs(payload["iat"] - time.time()) < 300
    institutions = {i["id"]: i for i in payload["institutions"]}
    assert institutions["hn-senaf"]["gateway_country"] == "HN"
    assert {"MX", "HN", "US"} <= {c["code"] for c in payload["countries"]}
    assert "hn-senaf-alertas" in {f["id"] for f in payload["focal_points"]}
    assert "HN-CR" in {a["id"] for a in payload["areas"]}
    keys = {k["kid"]: k for k in payload["keys"]}
    assert (keys[kid]["institution_id"], keys[kid]["use"], keys[kid]["jwk"]["x"],
            keys[kid]["revoked_at"]) == ("mx-pfpnna", "sig", key["x"], None)


def test_a_tampered_snapshot_does_not_verify(directory: RunningDirectory):
    header, payload, signature = fetch(directory).split(".")
    content = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    content["version"] += 1000
    forged = base64.urlsafe_b64encode(json.dumps(content).encode()).rstrip(b"=").decode()
    with pytest.raises(BadSignatureError):
        verified(directory, f"{header}.{forged}.{signature}")


def test_since_a_version_only_the_changes_come(directory: RunningDirectory):
    version = verified(directory, fetch(directory))["version"]
    new_fp = focal_point_body(unique("hn-delta"), "hn-senaf")
    with directory.client("country_admin_HN") as hn:
        hn.patch("/v1/institutions/hn-inm", json={"hours": f"Mon-Fri {version % 10}:00-16:00"})
        hn.post("/v1/focal-points", json=new_fp)
    delta = verified(directory, fetch(directory, since=version))
    assert delta["since"] == version and delta["version"] == version + 2
    assert [i["id"] for i in delta["institutions"]] == ["hn-inm"]
    assert [f["id"] for f in delta["focal_points"]] == [new_fp["id"]]
    assert delta["countries"] == delta["areas"] == delta["keys"] == []
    nothing = verified(directory, fetch(directory, since=delta["version"]))
    assert nothing["version"] == delta["version"]
    assert nothing["institutions"] == nothing["focal_points"] == []
    with directory.client("gateway:hn-senaf") as gw:
        body = assert_problem(gw.get("/v1/snapshot", params={"since": delta["version"] + 1}),
                              409, "unknown_version")
        assert_problem(gw.get("/v1/snapshot", params={"since": -1}), 422, "invalid_request")
    assert body["version"] == delta["version"]


def client(url: str, directory: RunningDirectory, cache: Path | None = None,
           **options) -> closing[DirectoryClient]:
    options.setdefault("public_key", directory.public_key)
    return closing(DirectoryClient(url, {"hn-senaf": directory.tokens["gateway:hn-senaf"]},
                                   cache_path=cache, **options))


def test_a_gateway_follows_the_changes_and_sees_new_entries(directory: RunningDirectory,
                                                             tmp_path: Path):
    inst = institution_body(unique("mx-new"))
    with client(directory.url, directory, refresh_seconds=0) as gateway:
        assert gateway.institution("mx-sndif")["country"] == "MX"
        with pytest.raises(UnknownInstitution):
            gateway.institution(inst["id"])
        with directory.client("country_admin_MX") as mx:
            mx.post("/v1/institutions", json=inst)
            mx.patch("/v1/institutions/mx-inm", json={"hours": inst["id"]})
        assert gateway.institution(inst["id"])["name"] == inst["name"]
        assert gateway.institution("mx-inm")["hours"] == inst["id"]


def test_a_gateway_works_from_its_snapshot_while_the_directory_is_down(
        directory: RunningDirectory, tmp_path: Path):
    cache = tmp_path / "directory-snapshot.json"
    server = directory.serve_another()
    clock = {"now": time.time()}
    with client(server.url, directory, cache, refresh_seconds=0,
                clock=lambda: clock["now"]) as gateway:
        keys_before = gateway.signing_keys("hn-senaf")
        assert gateway.institution("mx-sndif")["country"] == "MX"
        expires_at = gateway.held().expires_at
        server.stop()  # returns once it no longer listens
        assert gateway.institution("mx-sndif")["country"] == "MX"
        assert gateway.signing_keys("hn-senaf") == keys_before
        with pytest.raises(UnknownInstitution):
            gateway.institution("xx-not-anywhere")
        # Past the expiry the snapshot itself says (not the clock at the start plus the TTL:
        # the directory signs it a moment later, longer on a busy machine).
        clock["now"] = expires_at + 1
        with pytest.raises(RegionalServiceDown, match="expired"):
            gateway.institution("mx-sndif")
    # A gateway restarted while the directory is down answers from its cache on disk.
    with client(server.url, directory, cache) as restarted:
        assert restarted.institution("hn-senaf")["id"] == "hn-senaf"
    with client(server.url, directory) as without_cache, \
            pytest.raises(RegionalServiceDown, match="no snapshot"):
        without_cache.institution("hn-senaf")


def test_a_gateway_trusts_only_the_directorys_key(directory: RunningDirectory, tmp_path: Path):
    cache = tmp_path / "directory-snapshot.json"
    impostor = public_jwk(generate_signing_key())
    with client(directory.url, directory, cache, public_key=impostor) as gateway, \
            pytest.raises(RegionalServiceDown):
        gateway.institution("hn-senaf")
    assert not cache.exists()
    with pytest.raises(ValueError, match="public key"):
        DirectoryClient(directory.url, {}, public_key=None)


def test_a_revoked_key_goes_as_soon_as_the_gateway_holds_the_snapshot_saying_so(
        directory: RunningDirectory):
    key = dict(OKPKey.generate_key("Ed25519").as_dict(private=False))
    skew = {"seconds": 0.0}
    with client(directory.url, directory, refresh_seconds=0) as fresh, \
            client(directory.url, directory, refresh_seconds=3600,
                   clock=lambda: time.time() + skew["seconds"]) as late:
        with directory.client("gateway:mx-pfpnna") as gw:
            kid = gw.post("/v1/institutions/mx-pfpnna/keys", json=key).json()["kid"]
        assert kid in [k["kid"] for k in fresh.signing_keys("mx-pfpnna")]
        assert kid in [k["kid"] for k in late.signing_keys("mx-pfpnna")]
        with directory.client() as admin:
            admin.post(f"/v1/institutions/mx-pfpnna/keys/{kid}/revocation",
                       json={"reason": "key-compromise"})
        assert kid not in [k["kid"] for k in fresh.signing_keys("mx-pfpnna")]
        # Until it refreshes, a gateway holds a snapshot in which the key is valid ...
        assert kid in [k["kid"] for k in late.signing_keys("mx-pfpnna")]
        # ... forget_keys (called on a message with an unknown key id) makes it ask again,
        # at most once a second.
        late.forget_keys("mx-pfpnna")
        skew["seconds"] = 1.5
        assert kid not in [k["kid"] for k in late.signing_keys("mx-pfpnna")]


@pytest.mark.parametrize("query", ["tapachula", "TAPACHULA", "sndif", "Sndif", "mexico",
                                   "México", "secretaria ninez honduras", "Affaires mondiales",
                                   "consulado tapachula"])
def test_the_snapshot_search_finds_what_the_directory_finds(directory: RunningDirectory,
                                                            query: str, tmp_path: Path):
    """A gateway's console searches its snapshot with the directory's own rules."""
    with client(directory.url, directory) as gateway, \
            directory.client("consular_officer_HN") as officer:
        search = RecordSearch(gateway.held().records)
        answer = officer.get("/v1/institutions", params={"q": query, "limit": 100}).json()
        areas = officer.get("/v1/areas", params={"q": query, "limit": 500}).json()["items"]
    assert [i["id"] for i in search.institutions(query)] == [i["id"] for i in answer["items"]]
    assert answer["items"]
    assert {a["id"] for a in search.areas(query)} == {a["id"] for a in areas}


@pytest.mark.parametrize(("country", "topic", "area"), [
    ("HN", "missing-child-alerts", "HN-CR-SPS"), ("HN", "family-tracing", "MX-CHP-TAPACHULA"),
    ("HN", "missing-child-alerts", "HN-OL"), ("GT", "missing-child-alerts", None),
    ("MX", "reception", "MX-CHP-TAPACHULA"), ("US", "asylum", None),
])
def test_the_snapshot_lookup_ranks_as_the_directory_does(directory: RunningDirectory,
                                                         country: str, topic: str,
                                                         area: str | None):
    with client(directory.url, directory) as gateway, \
            directory.client("consular_officer_HN") as officer:
        held = RecordSearch(gateway.held().records)
        params = {"country": country, "topic": topic, **({"area": area} if area else {})}
        answer = officer.get("/v1/focal-points/lookup", params=params).json()
    mine = held.lookup(country, topic, area, None, datetime.now(UTC))
    assert [(r["focal_point"]["id"], r["coverage"], r["covered_area"]) for r in mine["results"]] \
        == [(r["focal_point"]["id"], r["coverage"], r["covered_area"]) for r in answer["results"]]
    assert (mine["area_matched"], mine["message"]) == (answer["area_matched"], answer["message"])


def test_held_says_whether_the_directory_answered_and_how_old_the_snapshot_is(
        directory: RunningDirectory, tmp_path: Path):
    other = directory.serve_another()
    cache = tmp_path / "snapshot.json"
    now = [time.time()]
    with client(other.url, directory, cache, clock=lambda: now[0]) as gateway:
        view = gateway.held()
        assert gateway.reachable is True
        assert now[0] - 60 < view.issued_at <= time.time()
        other.stop()
        now[0] += 2  # held() asks the directory at most once a second
        assert gateway.held().version == view.version
        assert gateway.reachable is False
    with client("http://127.0.0.1:9", directory, cache) as restarted:  # nothing listens
        assert restarted.held().issued_at == view.issued_at  # kept on disk
        assert restarted.reachable is False
