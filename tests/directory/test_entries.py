"""Issue #3, points 1 and 3: what an entry holds, how it is created, changed, deactivated
(never deleted), and the history of every change."""

from __future__ import annotations

import pytest

from tests.directory.conftest import RunningDirectory, focal_point_body, institution_body
from tests.helpers import assert_problem, unique


def test_an_institution_keeps_everything_the_model_names(directory: RunningDirectory):
    body = institution_body(
        unique("mx-albergue"), name="Albergue Temporal de Niñez Migrante", name_language="es",
        translations={"en": "Temporary Shelter for Migrant Children"}, acronym="ATNM",
        type="shelter", competences=["reception", "psychosocial-care"],
        areas=["MX-CHP-TAPACHULA"], languages=["es", "mam"],
        channels=[{"kind": "phone", "value": "+000 52 555 0001", "note": "guardia"},
                  {"kind": "email", "value": "guardia@albergue.example.org"}],
        hours="24/7", open_24_7=True, parent_id="mx-sndif", gateway_country="MX",
    )
    with directory.client() as admin:
        created = admin.post("/v1/institutions", json=body)
        assert created.status_code == 201, created.text
        read = admin.get(f"/v1/institutions/{body['id']}").json()
    expected = {**body, "channels": [{"note": "guardia", **body["channels"][0]},
                                     {"note": "", **body["channels"][1]}], "active": True}
    assert {k: read[k] for k in expected} == expected
    assert read["updated_at"]


def test_a_focal_point_keeps_everything_the_model_names(directory: RunningDirectory):
    body = focal_point_body(
        unique("hn-senaf-fp"), "hn-senaf", kind="person", name="Marta Ejemplo Zelaya",
        title="Enlace de alertas", topics=["missing-child-alerts", "family-tracing"],
        areas=["HN-YO"], languages=["es", "en"], availability="Mon-Fri 08:00-16:00",
        available_24_7=False, valid_from="2026-01-01T00:00:00Z", valid_to="2030-01-01T00:00:00Z",
    )
    with directory.client() as admin:
        assert admin.post("/v1/focal-points", json=body).status_code == 201
        read = admin.get(f"/v1/focal-points/{body['id']}").json()
    assert read["country"] == "HN"
    assert read["topics"] == ["missing-child-alerts", "family-tracing"]
    assert read["areas"] == ["HN-YO"]
    assert read["valid_from"].startswith("2026-01-01T00:00:00")
    assert read["channels"] == [{"kind": "email", "value": "mesa@prueba.example.org", "note": ""}]


def test_areas_nest_and_are_listed_per_country(directory: RunningDirectory):
    area_id = f"MX-CHP-{unique('T').upper().replace('-', '')}"
    with directory.client("country_admin_MX") as mx:
        created = mx.post("/v1/areas", json={"id": area_id, "country": "MX", "name": "Huixtla",
                                              "kind": "municipality", "parent_id": "MX-CHP"})
        assert created.status_code == 201, created.text
        listed = mx.get("/v1/areas", params={"country": "MX", "q": "huixtla"}).json()["items"]
    assert [a["id"] for a in listed] == [area_id]


@pytest.mark.parametrize(("change", "status", "code"), [
    ({"competences": ["cooking"]}, 422, "invalid_request"),
    ({"areas": ["MX-ZZZ"]}, 422, "unknown_area"),
    ({"parent_id": "mx-no-such-institution"}, 422, "unknown_institution"),
    ({"country": "ZZ"}, 422, "unknown_country"),
    ({"channels": [{"kind": "pigeon", "value": "x"}]}, 422, "invalid_request"),
    ({"id": "Not A Slug"}, 422, "invalid_request"),
    ({"surprise": True}, 422, "invalid_request"),
])
def test_a_bad_institution_is_refused_with_a_problem_and_nothing_is_written(
        directory: RunningDirectory, change, status, code):
    body = {**institution_body(unique("mx-bad")), **change}
    with directory.client() as admin:
        assert_problem(admin.post("/v1/institutions", json=body), status, code)
        assert admin.get(f"/v1/institutions/{body['id']}").status_code in (404, 422)


@pytest.mark.parametrize(("change", "code"), [
    ({"valid_from": "2027-01-01T00:00:00Z", "valid_to": "2026-01-01T00:00:00Z"},
     "invalid_request"),
    ({"valid_from": "2027-01-01T00:00:00"}, "invalid_request"),  # no time zone
    ({"institution_id": "hn-nowhere"}, "unknown_institution"),
    ({"topics": []}, "invalid_request"),
    ({"areas": ["HN-XX"]}, "unknown_area"),
])
def test_a_bad_focal_point_is_refused(directory: RunningDirectory, change, code):
    body = {**focal_point_body(unique("hn-fp-bad"), "hn-senaf"), **change}
    with directory.client() as admin:
        assert_problem(admin.post("/v1/focal-points", json=body), 422, code)
        assert admin.get(f"/v1/focal-points/{body['id']}").status_code == 404


def test_an_id_is_taken_once(directory: RunningDirectory):
    body = institution_body(unique("mx-twice"))
    with directory.client() as admin:
        assert admin.post("/v1/institutions", json=body).status_code == 201
        assert_problem(admin.post("/v1/institutions", json={**body, "name": "Otra"}), 409,
                       "institution_exists")
        assert admin.get(f"/v1/institutions/{body['id']}").json()["name"] == body["name"]


def test_an_update_that_would_make_the_entry_invalid_changes_nothing(
        directory: RunningDirectory):
    body = institution_body(unique("mx-upd"))
    with directory.client() as admin:
        admin.post("/v1/institutions", json=body)
        path = f"/v1/institutions/{body['id']}"
        assert_problem(admin.patch(path, json={"name": None}), 422, "invalid_request")
        assert_problem(admin.patch(path, json={"country": "HN"}), 422, "invalid_request")
        assert_problem(admin.patch(path, json={"areas": ["MX-CHP", "MX-NOPE"]}), 422,
                       "unknown_area")
        assert admin.get(path).json()["name"] == body["name"]
        assert admin.get(path).json()["areas"] == []


def test_deactivating_keeps_the_entry_and_nothing_is_ever_deleted(directory: RunningDirectory):
    word = unique("zafiro").replace("-", "")
    body = institution_body(unique("mx-closing"), name=f"Albergue {word}")
    with directory.client("country_admin_MX") as mx:
        mx.post("/v1/institutions", json=body)
        path = f"/v1/institutions/{body['id']}"
        assert mx.patch(path, json={"active": False}).json()["active"] is False
        assert mx.get(path).status_code == 200
        assert mx.get("/v1/institutions", params={"q": word}).json()["total"] == 0
        found = mx.get("/v1/institutions", params={"q": word, "include_inactive": True}).json()
        assert [i["id"] for i in found["items"]] == [body["id"]]
        assert mx.delete(path).status_code == 405
        assert mx.get(path).status_code == 200


def test_every_change_is_in_the_history_of_its_entry(directory: RunningDirectory):
    body = institution_body(unique("mx-hist"))
    path = f"/v1/institutions/{body['id']}"
    with directory.client("country_admin_MX") as mx:
        mx.post("/v1/institutions", json=body)
        mx.patch(path, json={"name": "Nombre nuevo", "hours": "Mon-Fri 09:00-17:00"})
        mx.patch(path, json={"name": "Nombre nuevo"})  # no change: no history line
    with directory.client() as admin:
        admin.patch(path, json={"active": False})
        items = admin.get(f"{path}/history").json()["items"]
    assert [i["action"] for i in items] == ["created", "updated", "deactivated"]
    created, updated, deactivated = items
    assert (created["actor_institution"], created["actor_role"]) == ("mx-sndif",
                                                                     "country_admin")
    assert created["changes"]["name"] == [None, body["name"]]
    assert updated["changes"] == {"name": [body["name"], "Nombre nuevo"],
                                  "hours": ["", "Mon-Fri 09:00-17:00"]}
    assert deactivated["changes"] == {"active": [True, False]}
    assert deactivated["actor_role"] == "regional_admin"
    assert created["at"] <= updated["at"] <= deactivated["at"]
    assert created["version"] < updated["version"] < deactivated["version"]


def test_focal_point_and_area_histories(directory: RunningDirectory):
    fp = focal_point_body(unique("mx-fp-hist"), "mx-sndif")
    with directory.client("country_admin_MX") as mx:
        mx.post("/v1/focal-points", json=fp)
        mx.patch(f"/v1/focal-points/{fp['id']}", json={"available_24_7": True})
        fp_items = mx.get(f"/v1/focal-points/{fp['id']}/history").json()["items"]
        area_items = mx.get("/v1/areas/MX-CHP/history").json()["items"]
    assert [i["action"] for i in fp_items] == ["created", "updated"]
    assert fp_items[1]["changes"] == {"available_24_7": [False, True]}
    assert area_items[0]["action"] == "created"
    assert area_items[0]["actor_institution"] == "crm-secretariat"
