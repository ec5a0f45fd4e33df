"""Issue #3, point 2: search as a consular officer uses it, and "who do I call"."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.directory.conftest import RunningDirectory, focal_point_body, institution_body
from tests.helpers import assert_problem, unique


def ids(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def search(directory: RunningDirectory, **params) -> list[str]:
    with directory.client("consular_officer_HN") as officer:
        return ids(officer.get("/v1/institutions", params={"limit": 100, **params}))


@pytest.mark.parametrize("query", ["Mexico", "mexico", "MÉXICO", "méxico"])
def test_free_text_ignores_case_and_accents(directory: RunningDirectory, query):
    found = search(directory, q=query)
    assert {"mx-sndif", "mx-consulado-houston"} <= set(found)
    assert all(i.startswith("mx-") for i in found)


@pytest.mark.parametrize(("query", "expected"), [
    ("senaf", ["hn-senaf"]),
    ("SENAF", ["hn-senaf"]),
    ("belen", ["hn-camr-belen"]),
    ("secretaria ninez honduras", ["hn-senaf"]),
    ("Affaires mondiales", ["ca-gac"]),  # a translation
    ("consulado tapachula", ["gt-consulado-tapachula", "hn-consulado-tapachula",
                             "sv-consulado-tapachula"]),
    ("100%_", []),  # LIKE wildcards are plain characters
])
def test_free_text_finds_names_acronyms_and_translations(directory: RunningDirectory, query,
                                                         expected):
    assert search(directory, q=query) == expected


def test_filters_by_country_type_competence_language_and_area(directory: RunningDirectory):
    assert search(directory, country="GT", type="prosecutor") == ["gt-pgn"]
    assert "gt-pgn" in search(directory, competence="missing-child-alerts")
    assert "mx-sndif" not in search(directory, competence="missing-child-alerts")
    assert search(directory, language="fr") == ["ca-cbsa", "ca-gac", "ca-ircc"]
    # Consulates whose district contains Tapachula (they cover the whole state of Chiapas).
    assert search(directory, area="MX-CHP-TAPACHULA", type="consulate") == [
        "gt-consulado-tapachula", "hn-consulado-tapachula", "sv-consulado-tapachula"]
    # In Cortés: the shelter that covers it and the national institutions of Honduras.
    in_cortes = search(directory, area="HN-CR", country="HN")
    assert {"hn-camr-belen", "hn-senaf", "hn-inm"} <= set(in_cortes)
    assert "hn-consulado-tapachula" not in in_cortes
    assert "hn-camr-belen" not in search(directory, area="HN-OL")


def test_unknown_filter_values_are_problems(directory: RunningDirectory):
    with directory.client("consular_officer_HN") as officer:
        assert_problem(officer.get("/v1/institutions", params={"country": "ZZ"}), 404,
                       "country_not_found")
        assert_problem(officer.get("/v1/institutions", params={"area": "MX-ZZZ"}), 404,
                       "area_not_found")
        assert_problem(officer.get("/v1/institutions", params={"competence": "cooking"}), 422,
                       "invalid_request")
        assert_problem(officer.get("/v1/institutions", params={"limit": 1000}), 422,
                       "invalid_request")
        assert_problem(officer.get("/v1/institutions", params={"cursor": "bm90LWEtY3Vyc29y"}),
                       422, "invalid_cursor")
        # A cursor of another list (an institution's place, not a key's) is refused too.
        link = officer.get("/v1/institutions", params={"limit": 1}).json()["next"]
        cursor = parse_qs(urlsplit(link).query)["cursor"][0]
        assert_problem(officer.get("/v1/institutions/mx-sndif/keys",
                                   params={"cursor": cursor}), 422, "invalid_cursor")


def test_pages_are_in_a_stable_order_without_gaps_or_repeats(directory: RunningDirectory):
    everything = search(directory, limit=100)
    with directory.client("consular_officer_HN") as officer:
        first = officer.get("/v1/institutions", params={"limit": 7}).json()
        pages, link = [], "/v1/institutions?limit=7"
        while link:
            page = officer.get(link)
            pages += ids(page)
            assert len(page.json()["items"]) <= 7
            link = page.json()["next"]
    assert first["total"] == len(everything) > 40
    assert first["next"].startswith("/v1/institutions?") and "cursor=" in first["next"]
    assert pages == everything
    assert len(set(pages)) == len(pages)
    countries = [i[:2] for i in everything]
    assert countries == sorted(countries)


def test_focal_points_are_searchable_too(directory: RunningDirectory):
    with directory.client("consular_officer_HN") as officer:
        found = ids(officer.get("/v1/focal-points", params={"q": "martinez"}))
        by_topic = ids(officer.get("/v1/focal-points",
                                   params={"country": "HN", "topic": "missing-child-alerts"}))
        speaking_mam = ids(officer.get("/v1/focal-points", params={"language": "mam"}))
    assert found == ["sv-consulado-tapachula-proteccion"]
    assert {"hn-senaf-alertas", "hn-senaf-sps", "hn-consulado-tapachula-proteccion"} <= set(
        by_topic)
    assert speaking_mam == ["gt-consulado-tapachula-proteccion"]


def lookup(directory: RunningDirectory, **params) -> dict:
    with directory.client("consular_officer_HN") as officer:
        response = officer.get("/v1/focal-points/lookup", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def ranked(answer: dict) -> list[tuple[str, str]]:
    return [(r["focal_point"]["id"], r["coverage"]) for r in answer["results"]]


def test_lookup_ranks_the_area_first_then_national(directory: RunningDirectory):
    # San Pedro Sula is in Cortés: SENAF's Cortés coordinator first, then the national desk.
    answer = lookup(directory, country="HN", topic="missing-child-alerts", area="HN-CR-SPS")
    assert ranked(answer) == [("hn-senaf-sps", "area"), ("hn-senaf-alertas", "national")]
    assert answer["area_matched"] is True
    assert answer["results"][0]["covered_area"] == "HN-CR"
    assert answer["results"][0]["rank"] == 1
    first = answer["results"][0]
    assert first["institution"]["acronym"] == "SENAF"
    assert first["focal_point"]["channels"] and first["institution"]["channels"]


def test_lookup_from_abroad_finds_the_consulate_of_the_district(directory: RunningDirectory):
    answer = lookup(directory, country="HN", topic="missing-child-alerts",
                    area="MX-CHP-TAPACHULA")
    assert ranked(answer) == [("hn-consulado-tapachula-proteccion", "area"),
                              ("hn-senaf-alertas", "national")]


def test_lookup_says_when_nothing_covers_the_area_and_falls_back_to_national(
        directory: RunningDirectory):
    answer = lookup(directory, country="HN", topic="missing-child-alerts", area="HN-OL")
    assert answer["area_matched"] is False
    assert ranked(answer) == [("hn-senaf-alertas", "national")]
    assert "No focal point of HN covers Olancho" in answer["message"]
    assert "national" in answer["message"]


def test_lookup_without_area_gives_national_focal_points(directory: RunningDirectory):
    answer = lookup(directory, country="GT", topic="missing-child-alerts")
    assert answer["area"] is None and answer["area_matched"] is None
    assert ranked(answer) == [("gt-pgn-alertas", "national")]


def test_lookup_puts_24_7_first_and_skips_inactive_and_expired(directory: RunningDirectory):
    area = "HN-YO"
    inst = institution_body(unique("hn-yoro"), country="HN", type="civil-society",
                            areas=[area], competences=["trafficking-victims"])
    day = focal_point_body(unique("hn-yoro-dia"), inst["id"], name="A Day desk",
                           topics=["trafficking-victims"])
    night = focal_point_body(unique("hn-yoro-noche"), inst["id"], name="Z Night desk",
                             topics=["trafficking-victims"], available_24_7=True)
    gone = focal_point_body(unique("hn-yoro-old"), inst["id"], topics=["trafficking-victims"],
                            valid_to="2020-01-01T00:00:00Z", valid_from="2019-01-01T00:00:00Z")
    closed = focal_point_body(unique("hn-yoro-closed"), inst["id"],
                              topics=["trafficking-victims"], active=False)
    with directory.client("country_admin_HN") as hn:
        for path, body in [("institutions", inst), *(("focal-points", fp) for fp in
                                                     (day, night, gone, closed))]:
            assert hn.post(f"/v1/{path}", json=body).status_code == 201
    answer = lookup(directory, country="HN", topic="trafficking-victims", area=area)
    assert ranked(answer) == [(night["id"], "area"), (day["id"], "area")]
    with directory.client("country_admin_HN") as hn:
        hn.patch(f"/v1/institutions/{inst['id']}", json={"active": False})
    assert lookup(directory, country="HN", topic="trafficking-victims", area=area)[
        "results"] == []


def test_a_focal_point_follows_its_institutions_areas(directory: RunningDirectory):
    inst = institution_body(unique("hn-moves"), country="HN", type="civil-society",
                            areas=["HN-AT"], competences=["reintegration"])
    fp = focal_point_body(unique("hn-moves-fp"), inst["id"], topics=["reintegration"])
    with directory.client("country_admin_HN") as hn:
        hn.post("/v1/institutions", json=inst)
        hn.post("/v1/focal-points", json=fp)
        hn.patch(f"/v1/institutions/{inst['id']}", json={"areas": ["HN-CL"]})
    moved = lookup(directory, country="HN", topic="reintegration", area="HN-CL")
    assert (fp["id"], "area") in ranked(moved)
    left = lookup(directory, country="HN", topic="reintegration", area="HN-AT")
    assert fp["id"] not in [fp_id for fp_id, _ in ranked(left)]


def test_lookup_refuses_what_it_does_not_know(directory: RunningDirectory):
    with directory.client("consular_officer_HN") as officer:
        assert_problem(officer.get("/v1/focal-points/lookup",
                                   params={"country": "ZZ", "topic": "reception"}),
                       404, "country_not_found")
        assert_problem(officer.get("/v1/focal-points/lookup",
                                   params={"country": "HN", "topic": "reception",
                                           "area": "HN-ZZ"}), 404, "area_not_found")
        assert_problem(officer.get("/v1/focal-points/lookup",
                                   params={"country": "HN", "topic": "haircuts"}),
                       422, "invalid_request")
