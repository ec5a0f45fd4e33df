"""Issue #3, point 3: country administrators change only their own country; regional
administrators everything; everybody else reads."""

from __future__ import annotations

from tests.directory.conftest import RunningDirectory, focal_point_body, institution_body
from tests.helpers import assert_problem, unique


def test_a_country_administrator_cannot_change_another_countrys_entry(
        directory: RunningDirectory):
    with directory.client("country_admin_MX") as mx:
        before = mx.get("/v1/institutions/hn-senaf").json()
        body = assert_problem(mx.patch("/v1/institutions/hn-senaf", json={"name": "Cambiado"}),
                              403, "not_your_country")
        assert body["field"] == "country"
        assert_problem(mx.patch("/v1/institutions/hn-senaf", json={"active": False}), 403,
                       "not_your_country")
        assert_problem(mx.patch("/v1/focal-points/hn-senaf-alertas",
                                json={"available_24_7": False}), 403, "not_your_country")
        assert_problem(mx.patch("/v1/areas/HN-CR", json={"name": "Otro"}), 403,
                       "not_your_country")
        after = mx.get("/v1/institutions/hn-senaf").json()
        assert after == before
        assert mx.get("/v1/focal-points/hn-senaf-alertas").json()["available_24_7"] is True


def test_a_country_administrator_cannot_create_in_another_country(directory: RunningDirectory):
    institution = institution_body(unique("hn-intruso"), country="HN")
    focal_point = focal_point_body(unique("hn-fp-intruso"), "hn-senaf")
    with directory.client("country_admin_MX") as mx:
        assert_problem(mx.post("/v1/institutions", json=institution), 403, "not_your_country")
        assert_problem(mx.post("/v1/focal-points", json=focal_point), 403, "not_your_country")
        assert mx.get(f"/v1/institutions/{institution['id']}").status_code == 404
        assert mx.get(f"/v1/focal-points/{focal_point['id']}").status_code == 404


def test_a_country_administrator_keeps_their_consulates_abroad(directory: RunningDirectory):
    # Honduras' consulate in Tapachula covers a Mexican state but is Honduras' entry.
    path = "/v1/institutions/hn-consulado-tapachula"
    with directory.client("country_admin_HN") as hn:
        changed = hn.patch(path, json={"areas": ["MX-CHP", "MX-TAB"]})
        assert changed.status_code == 200, changed.text
        hn.patch(path, json={"areas": ["MX-CHP"]})
    with directory.client("country_admin_MX") as mx:
        assert_problem(mx.patch(path, json={"areas": []}), 403, "not_your_country")


def test_a_regional_administrator_changes_any_country(directory: RunningDirectory):
    with directory.client() as admin:
        for path in ("/v1/institutions/hn-senaf", "/v1/institutions/mx-sndif"):
            hours = admin.get(path).json()["hours"]
            assert admin.patch(path, json={"hours": "Mon-Fri 07:30-15:30"}).status_code == 200
            assert admin.patch(path, json={"hours": hours}).status_code == 200


def test_readers_read_and_do_not_write(directory: RunningDirectory):
    with directory.client("consular_officer_HN") as officer:
        assert officer.get("/v1/institutions/hn-senaf").status_code == 200
        assert officer.get("/v1/institutions", params={"q": "senaf"}).json()["total"] == 1
        assert officer.get("/v1/focal-points/lookup",
                           params={"country": "HN", "topic": "reception"}).status_code == 200
        assert_problem(officer.patch("/v1/institutions/hn-consulado-tapachula",
                                     json={"hours": "never"}), 403, "role_not_allowed")
        assert_problem(officer.post("/v1/institutions", json=institution_body(unique("hn-x"),
                                                                              country="HN")),
                       403, "role_not_allowed")
        assert_problem(officer.get("/v1/institutions/hn-senaf/history"), 403,
                       "role_not_allowed")
    with directory.client("gateway:hn-senaf") as gateway:
        assert_problem(gateway.patch("/v1/institutions/hn-senaf", json={"hours": "x"}), 403,
                       "role_not_allowed")


def test_without_a_token_only_public_keys_are_readable(directory: RunningDirectory):
    with directory.client(who="") as anonymous:
        assert_problem(anonymous.get("/v1/institutions"), 401, "missing_token")
        assert_problem(anonymous.get("/v1/snapshot"), 401, "missing_token")
        assert anonymous.get("/v1/institutions/hn-senaf/jwks").status_code == 200
