"""Issue #8, point 3: joining through the API. A regional administrator adds a country and an
institution, issues its gateway's credentials (a token valid at the directory and, through
introspection, at the registry, and the NATS credentials of its country's gateway), issues
them again or revokes them; every issuance is in the institution's history."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from joserfc.jwk import OKPKey

from services.exchange.clients.directory import DirectoryClient
from services.registry.directory import DirectoryUnavailable
from services.registry.introspection import TokenIntrospector
from shared.protocol.auth import Principal, Role, hash_token
from shared.protocol.nats_auth import creds_jwt, decode_jwt, public_key
from tests.directory.conftest import RunningDirectory, institution_body
from tests.helpers import assert_problem, unique


def new_country(directory: RunningDirectory) -> str:
    """A country code no other test of the module took (two letters, so a few tries)."""
    with directory.client() as admin:
        taken = {c["code"] for c in admin.get("/v1/countries").json()["items"]}
        code = next(a + b for a in "QXZ" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                    if a + b not in taken)
        created = admin.post("/v1/countries", json={"code": code, "name": "Testland",
                                                     "name_es": "Tierra de prueba"})
        assert created.status_code == 201, created.text
    return code


def new_institution(directory: RunningDirectory, country: str = "MX", **fields) -> str:
    institution = unique(f"{country.lower()}-inst")
    with directory.client() as admin:
        created = admin.post("/v1/institutions", json=institution_body(
            institution, country, gateway_country=country, **fields))
        assert created.status_code == 201, created.text
    return institution


def issue(directory: RunningDirectory, institution: str) -> dict:
    with directory.client() as admin:
        issued = admin.post(f"/v1/institutions/{institution}/credentials")
    assert issued.status_code == 201, issued.text
    assert issued.headers["cache-control"] == "no-store"
    return dict(issued.json())


def as_token(directory: RunningDirectory, token: str) -> httpx.Client:
    return httpx.Client(base_url=directory.url, timeout=30,
                        headers={"Authorization": f"Bearer {token}"})


def test_a_new_country_and_institution_join_and_its_gateway_registers_its_keys(
        directory: RunningDirectory):
    country = new_country(directory)
    with directory.client() as admin:
        assert country in {c["code"] for c in admin.get("/v1/countries").json()["items"]}
    institution = new_institution(directory, country)
    issued = issue(directory, institution)
    assert issued["institution_id"] == institution and issued["country"] == country
    assert issued["gateway_country"] == country and issued["role"] == "gateway"
    assert issued["token"].startswith("enl_")
    assert issued["token_id"] == hash_token(issued["token"])[:12]

    # The NATS credentials: a user JWT of the country's gateway, signed by the account's
    # signing key the directory is configured with.
    claims = decode_jwt(creds_jwt(issued["nats_credentials"]))
    assert claims["name"] == f"gateway-{country}"
    assert claims["iss"] == public_key(directory.nats_signing_seed)
    assert claims["nats"]["issuer_account"] == directory.settings.nats_account_public_key

    sig, enc = (dict(OKPKey.generate_key(c).as_dict(private=False))
                for c in ("Ed25519", "X25519"))
    with closing(DirectoryClient(directory.url, {institution: issued["token"]},
                                 public_key=directory.public_key, refresh_seconds=0)) as gw:
        gw.register_signing_key(institution, sig)
        gw.register_encryption_key(institution, enc)
        assert len(gw.signing_keys(institution)) == 1
    with directory.client() as admin:
        assert len(admin.get(f"/v1/institutions/{institution}/jwks").json()["keys"]) == 2
        # A key is registered by the institution's own gateway, not by an administrator.
        assert_problem(admin.post(f"/v1/institutions/{institution}/keys", json=sig), 403,
                       "role_not_allowed")


def test_issuing_again_revokes_the_previous_token_and_the_history_names_who(
        directory: RunningDirectory):
    institution = new_institution(directory)
    first = issue(directory, institution)
    second = issue(directory, institution)
    with as_token(directory, first["token"]) as old:
        assert_problem(old.get("/v1/countries"), 401, "invalid_token")
    with as_token(directory, second["token"]) as current:
        assert current.get("/v1/countries").status_code == 200
    with directory.client() as admin:
        revoked = admin.post(f"/v1/institutions/{institution}/credentials/revocation")
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["revoked_token_ids"] == [second["token_id"]]
        assert_problem(admin.post(f"/v1/institutions/{institution}/credentials/revocation"),
                       409, "no_active_credentials")
        history = admin.get(f"/v1/institutions/{institution}/history")
    with as_token(directory, second["token"]) as current:
        assert_problem(current.get("/v1/countries"), 401, "invalid_token")
    lines = [line for line in history.json()["items"] if line["action"].startswith("cred")]
    assert [line["action"] for line in lines] == [
        "credentials-issued", "credentials-issued", "credentials-revoked"]
    assert {(line["actor_institution"], line["actor_role"]) for line in lines} == {
        ("crm-secretariat", "regional_admin")}
    assert lines[0]["changes"]["gateway_token"] == [None, first["token_id"]]
    assert lines[1]["changes"]["gateway_token"] == [first["token_id"], second["token_id"]]
    assert lines[2]["changes"]["gateway_token"] == [second["token_id"], None]
    for token in (first["token"], second["token"]):
        assert token not in history.text


def test_only_a_regional_administrator_issues_credentials(directory: RunningDirectory):
    institution = new_institution(directory)
    path = f"/v1/institutions/{institution}/credentials"
    for who in ("country_admin_MX", "consular_officer_HN", "gateway:mx-sndif", "registry"):
        with directory.client(who) as caller:
            assert_problem(caller.post(path), 403, "role_not_allowed")
            assert_problem(caller.post(f"{path}/revocation"), 403, "role_not_allowed")
    with directory.client("") as anonymous:
        assert_problem(anonymous.post(path), 401, "missing_token")
    with directory.client() as admin:
        assert_problem(admin.post("/v1/institutions/no-such-one/credentials"), 404,
                       "institution_not_found")


def test_credentials_need_an_active_institution_with_a_gateway_country(
        directory: RunningDirectory):
    unserved = unique("mx-sin-gateway")
    with directory.client() as admin:
        admin.post("/v1/institutions", json=institution_body(unserved))
        assert_problem(admin.post(f"/v1/institutions/{unserved}/credentials"), 409,
                       "no_gateway_country")
    inactive = new_institution(directory)
    with directory.client() as admin:
        admin.patch(f"/v1/institutions/{inactive}", json={"active": False})
        assert_problem(admin.post(f"/v1/institutions/{inactive}/credentials"), 409,
                       "institution_inactive")


def test_without_a_nats_signing_key_nothing_is_issued(directory: RunningDirectory):
    institution = new_institution(directory)
    before = issue(directory, institution)
    server = directory.serve_another(nats_account_signing_key_file=None)
    try:
        with httpx.Client(base_url=server.url, timeout=30, headers={
                "Authorization": f"Bearer {directory.tokens['regional_admin']}"}) as admin:
            refused = admin.post(f"/v1/institutions/{institution}/credentials")
            assert_problem(refused, 503, "nats_signing_key_missing")
            history = admin.get(f"/v1/institutions/{institution}/history").json()["items"]
    finally:
        server.stop()
    assert [line["action"] for line in history].count("credentials-issued") == 1
    with as_token(directory, before["token"]) as still:
        assert still.get("/v1/countries").status_code == 200


def test_an_unusable_nats_signing_key_is_a_clear_503(directory: RunningDirectory,
                                                    tmp_path):
    institution = new_institution(directory)
    garbage = tmp_path / "signing.nk"
    garbage.write_text("not a seed")
    for key_file in (garbage, tmp_path / "missing.nk"):
        server = directory.serve_another(nats_account_signing_key_file=key_file)
        try:
            with httpx.Client(base_url=server.url, timeout=30, headers={
                    "Authorization": f"Bearer {directory.tokens['regional_admin']}"}) as admin:
                refused = admin.post(f"/v1/institutions/{institution}/credentials")
        finally:
            server.stop()
        assert_problem(refused, 503, "nats_signing_key_unusable")
        assert "not a seed" not in refused.text


def test_countries_are_added_by_regional_administrators_only(directory: RunningDirectory):
    body = {"code": "MX", "name": "Mexico", "name_es": "México"}
    with directory.client() as admin:
        assert_problem(admin.post("/v1/countries", json=body), 409, "country_exists")
        assert_problem(admin.post("/v1/countries", json={**body, "code": "mex"}), 422,
                       "invalid_request")
    with directory.client("country_admin_MX") as mx:
        assert_problem(mx.post("/v1/countries", json={**body, "code": "QQ"}), 403,
                       "role_not_allowed")


def introspect(directory: RunningDirectory, who: str, token: str) -> httpx.Response:
    with directory.client(who) as caller:
        return caller.post("/v1/tokens/introspect", json={"token": token})


def test_introspection_answers_the_registry_about_gateway_tokens_only(
        directory: RunningDirectory):
    institution = new_institution(directory)
    issued = issue(directory, institution)
    answer = introspect(directory, "registry", issued["token"])
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"active": True, "institution_id": institution, "country": "MX",
                             "role": "gateway", "token_type": "Bearer"}
    # Not a gateway token, unknown, or revoked: only "active": false.
    for token in (directory.tokens["regional_admin"], directory.tokens["country_admin_MX"],
                  "enl_unknown", directory.tokens["registry"]):
        assert introspect(directory, "registry", token).json() == {"active": False}
    with directory.client() as admin:
        admin.post(f"/v1/institutions/{institution}/credentials/revocation")
    assert introspect(directory, "registry", issued["token"]).json() == {"active": False}
    for who in ("regional_admin", "gateway:mx-sndif", "country_admin_MX"):
        assert_problem(introspect(directory, who, issued["token"]), 403, "role_not_allowed")


def test_the_registry_accepts_a_directory_token_and_refuses_it_within_its_cache_bound(
        directory: RunningDirectory):
    """The registry's introspector, against the real directory, with its clock in hand."""
    institution = new_institution(directory)
    issued = issue(directory, institution)
    now = {"t": 1000.0}
    introspector = TokenIntrospector(directory.url, directory.tokens["registry"], 5.0,
                                     clock=lambda: now["t"])
    with closing(introspector):
        assert introspector(issued["token"]) == Principal(institution, "MX", Role.gateway)
        assert introspector("enl_unknown") is None
        with directory.client() as admin:
            admin.post(f"/v1/institutions/{institution}/credentials/revocation")
        now["t"] += 4.9  # the cached answer still holds ...
        assert introspector(issued["token"]) == Principal(institution, "MX", Role.gateway)
        now["t"] += 0.2  # ... and not beyond the bound
        assert introspector(issued["token"]) is None


def test_the_registry_gets_a_503_not_a_401_when_the_directory_is_unreachable():
    introspector = TokenIntrospector("http://127.0.0.1:9", "enl_x", 5.0)
    with closing(introspector), pytest.raises(DirectoryUnavailable) as raised:
        introspector("enl_some_token")
    assert (raised.value.status, raised.value.code) == (503, "directory_unavailable")


@pytest.fixture
def slow_directory() -> Iterator[str]:
    """A directory that answers an introspection only after 6 s, as a busy one does: longer
    than the 5 s the registry used to wait before answering a gateway 503."""
    class Slow(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(6)
            body = json.dumps({"active": False}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_registry_waits_for_a_busy_directory_rather_than_answering_503(
        slow_directory: str):
    introspector = TokenIntrospector(slow_directory, "enl_x", 5.0)
    with closing(introspector):
        assert introspector("enl_some_token") is None
