"""Issue #9: a gateway acts toward the directory for a country administrator of its country
(shared/protocol/acting.py): exactly that scope, never wider, and the history names the person."""

from __future__ import annotations

import httpx

from shared.protocol.acting import NAME_HEADER, PERSON_HEADER, ROLE_HEADER
from tests.directory.conftest import RunningDirectory, focal_point_body
from tests.helpers import assert_problem, unique

PERSON = {ROLE_HEADER: "country_admin", PERSON_HEADER: "3f2c9a1e-person",
          NAME_HEADER: "mx-sndif.country_admin"}


def acting(directory: RunningDirectory, who: str = "gateway:mx-sndif",
           **headers: str | bytes) -> httpx.Client:
    client = directory.client(who)
    client.headers.update({**PERSON, **headers})
    return client


def test_the_history_names_the_person_the_gateway_acted_for(directory: RunningDirectory):
    path = "/v1/focal-points/mx-sndif-chiapas"
    with acting(directory) as gateway, directory.client() as admin:
        hours = admin.get(path).json()["availability"]
        changed = gateway.patch(path, json={"availability": "Lun-Vie 09:00-17:00"})
        assert changed.status_code == 200, changed.text
        items = gateway.get(f"{path}/history").json()["items"]
        admin.patch(path, json={"availability": hours})
        restored = admin.get(f"{path}/history").json()["items"][-1]
    mine = items[-1]
    assert mine["changes"]["availability"] == [hours, "Lun-Vie 09:00-17:00"]
    assert (mine["actor_institution"], mine["actor_role"]) == ("mx-sndif", "country_admin")
    assert (mine["actor_person_id"], mine["actor_person_name"]) == (
        "3f2c9a1e-person", "mx-sndif.country_admin")
    assert restored["actor_person_id"] is None and restored["actor_role"] == "regional_admin"


def test_a_gateway_creates_and_deactivates_in_its_own_country(directory: RunningDirectory):
    body = focal_point_body(unique("mx-sndif-fp"), "mx-sndif")
    with acting(directory) as gateway:
        assert gateway.post("/v1/focal-points", json=body).status_code == 201
        path = f"/v1/focal-points/{body['id']}"
        assert gateway.patch(path, json={"active": False}).json()["active"] is False
        actions = [(c["action"], c["actor_person_name"])
                   for c in gateway.get(f"{path}/history").json()["items"]]
    assert actions == [("created", "mx-sndif.country_admin"),
                       ("deactivated", "mx-sndif.country_admin")]


def test_another_countrys_entry_is_refused(directory: RunningDirectory):
    with acting(directory) as gateway, directory.client() as admin:
        before = admin.get("/v1/focal-points/hn-senaf-alertas").json()
        assert_problem(gateway.patch("/v1/focal-points/hn-senaf-alertas",
                                     json={"availability": "nunca"}), 403, "not_your_country")
        assert_problem(gateway.patch("/v1/institutions/hn-senaf", json={"hours": "nunca"}),
                       403, "not_your_country")
        assert_problem(gateway.post("/v1/focal-points",
                                    json=focal_point_body(unique("hn-fp"), "hn-senaf")),
                       403, "not_your_country")
        assert admin.get("/v1/focal-points/hn-senaf-alertas").json() == before
    # And a Honduran gateway is scoped to Honduras.
    with acting(directory, "gateway:hn-senaf") as gateway:
        assert_problem(gateway.patch("/v1/areas/MX-CHP", json={"name": "Otro"}), 403,
                       "not_your_country")


def test_a_gateway_never_acts_wider_than_a_country_administrator(
        directory: RunningDirectory):
    for role in ("regional_admin", "gateway", "auditor", ""):
        with acting(directory, **{ROLE_HEADER: role}) as gateway:
            answer = gateway.patch("/v1/areas/MX-CHP", json={"name": "Chiapas"})
            if role:
                body = assert_problem(answer, 403, "acting_role_not_allowed")
                assert body["field"] == ROLE_HEADER
            else:
                assert_problem(answer, 403, "acting_role_not_allowed")
    with acting(directory) as gateway:  # regional-only actions stay regional
        assert_problem(gateway.post("/v1/countries", json={
            "code": "ZZ", "name": "Nowhere", "name_es": "Ninguna"}), 403, "role_not_allowed")
        assert_problem(gateway.post("/v1/institutions/mx-sndif/credentials"), 403,
                       "role_not_allowed")
        # ... and so does what only the gateway itself does (its own keys)
        assert_problem(gateway.post("/v1/institutions/mx-sndif/keys", json={
            "kty": "OKP", "crv": "Ed25519", "x": "A" * 43}), 403, "role_not_allowed")


def test_the_acting_headers_need_a_gateway_token(directory: RunningDirectory):
    for who in ("country_admin_MX", "regional_admin", "consular_officer_HN"):
        with acting(directory, who) as client:
            assert_problem(client.patch("/v1/focal-points/mx-sndif-chiapas",
                                        json={"title": "x"}), 403, "acting_needs_gateway")
            assert_problem(client.get("/v1/focal-points/mx-sndif-chiapas/history"), 403,
                           "acting_needs_gateway")


def test_the_person_must_be_named(directory: RunningDirectory):
    latin1 = "josé.country_admin".encode("latin-1")  # headers are not UTF-8
    for headers in ({PERSON_HEADER: ""}, {NAME_HEADER: ""}, {PERSON_HEADER: "a b"},
                    {NAME_HEADER: "x" * 101}, {NAME_HEADER: latin1}):
        with acting(directory, **headers) as gateway:
            name = next(iter(headers))
            body = assert_problem(gateway.patch("/v1/focal-points/mx-sndif-chiapas",
                                                json={"title": "x"}), 422,
                                  "invalid_acting_person")
            assert body["field"] == name
    with directory.client("gateway:mx-sndif") as gateway:  # as itself: reads, no history
        assert gateway.get("/v1/focal-points/mx-sndif-chiapas").status_code == 200
        assert_problem(gateway.get("/v1/focal-points/mx-sndif-chiapas/history"), 403,
                       "role_not_allowed")
        assert_problem(gateway.patch("/v1/focal-points/mx-sndif-chiapas",
                                     json={"title": "x"}), 403, "role_not_allowed")


def test_the_acting_headers_are_in_the_api_documentation(directory: RunningDirectory):
    spec = httpx.get(f"{directory.url}/openapi.json").json()
    patch = spec["paths"]["/v1/focal-points/{entry_id}"]["patch"]
    headers = {p["name"] for p in patch["parameters"] if p["in"] == "header"}
    assert headers == {ROLE_HEADER, PERSON_HEADER, NAME_HEADER}
