"""Issue #3, point 3: bulk import and export in CSV and JSON; an import is checked whole and
applied whole, or rejected with a report line by line."""

from __future__ import annotations

import csv
import io
import json

from tests.directory.conftest import RunningDirectory, institution_body
from tests.helpers import assert_problem, unique

CSV = {"Content-Type": "text/csv"}


def version(directory: RunningDirectory) -> int:
    with directory.client() as admin:
        return int(admin.get("/v1/snapshot", params={"since": 0}).headers[
            "Enlace-Directory-Version"])


def csv_text(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def csv_row(id: str, country: str = "MX", **cells: str) -> dict[str, str]:
    return {"id": id, "country": country, "name": f"Centro {id}", "type": "shelter",
            "competences": "reception|psychosocial-care", "areas": "", "languages": "es",
            "channels": '[{"kind": "phone", "value": "+000 52 555 0100"}]', "open_24_7": "true",
            **cells}


def test_a_csv_import_creates_entries_with_lists_and_channels(directory: RunningDirectory):
    rows = [csv_row(unique("mx-csv")), csv_row(unique("mx-csv"), areas="MX-CHP|MX-TAB")]
    with directory.client("country_admin_MX") as mx:
        result = mx.post("/v1/import/institutions", content=csv_text(rows), headers=CSV)
        assert result.status_code == 200, result.text
        assert result.json() | {"version": 0} == {"version": 0, "created": 2, "updated": 0,
                                                  "unchanged": 0}
        second = mx.get(f"/v1/institutions/{rows[1]['id']}").json()
    assert second["competences"] == ["reception", "psychosocial-care"]
    assert second["areas"] == ["MX-CHP", "MX-TAB"]
    assert second["open_24_7"] is True
    assert second["channels"] == [{"kind": "phone", "value": "+000 52 555 0100", "note": ""}]


def test_an_import_with_one_bad_line_applies_nothing(directory: RunningDirectory):
    rows = [csv_row(unique("mx-ok")), csv_row(unique("mx-ok")),
            csv_row(unique("mx-bad"), competences="reception|cooking"), csv_row(unique("mx-ok"))]
    before = version(directory)
    with directory.client("country_admin_MX") as mx:
        body = assert_problem(mx.post("/v1/import/institutions", content=csv_text(rows),
                                      headers=CSV), 422, "import_rejected")
        for row in rows:
            assert mx.get(f"/v1/institutions/{row['id']}").status_code == 404
    assert body["errors"] == [{"line": 4, "field": "competences.1", "code": "invalid_value",
                               "message": body["errors"][0]["message"]}]
    assert "nothing was applied" in body["detail"]
    assert version(directory) == before


def test_the_report_names_every_bad_line(directory: RunningDirectory):
    taken = unique("mx-dup")
    items = [
        institution_body(taken),
        institution_body(unique("mx-j"), areas=["MX-NOWHERE"]),
        institution_body(taken),
        {"id": unique("mx-j"), "country": "MX"},
        "not an object",
    ]
    with directory.client("country_admin_MX") as mx:
        body = assert_problem(mx.post("/v1/import/institutions", json=items), 422,
                              "import_rejected")
        assert mx.get(f"/v1/institutions/{taken}").status_code == 404
    by_line = {(e["line"], e["code"]) for e in body["errors"]}
    assert {(2, "unknown_area"), (3, "duplicate_id"), (4, "invalid_value"),
            (5, "invalid_value")} <= by_line
    assert not any(line == 1 for line, _ in by_line)


def test_an_import_touching_another_country_is_forbidden_whole(directory: RunningDirectory):
    mine, theirs = institution_body(unique("mx-mine")), institution_body(unique("hn-theirs"),
                                                                         country="HN")
    with directory.client("country_admin_MX") as mx:
        body = assert_problem(mx.post("/v1/import/institutions", json=[mine, theirs]), 403,
                              "import_rejected")
        assert mx.get(f"/v1/institutions/{mine['id']}").status_code == 404
    assert [(e["line"], e["code"]) for e in body["errors"]] == [(2, "not_your_country")]


def test_exports_import_back_unchanged(directory: RunningDirectory):
    with directory.client("country_admin_HN") as hn:
        as_json = hn.get("/v1/export/institutions", params={"country": "HN"})
        as_csv = hn.get("/v1/export/institutions", params={"country": "HN", "format": "csv"})
        assert as_csv.headers["content-type"].startswith("text/csv")
        entries = as_json.json()
        assert {"hn-senaf", "hn-consulado-tapachula"} <= {e["id"] for e in entries}
        for body, headers in [(as_json.content, {"Content-Type": "application/json"}),
                              (as_csv.content, CSV)]:
            result = hn.post("/v1/import/institutions", content=body, headers=headers)
            assert result.status_code == 200, result.text
            assert result.json()["unchanged"] == len(entries)
            assert result.json()["created"] == result.json()["updated"] == 0


def test_an_import_updates_whole_entries(directory: RunningDirectory):
    body = institution_body(unique("mx-imp"), hours="Mon-Fri 08:00-16:00")
    with directory.client("country_admin_MX") as mx:
        mx.post("/v1/institutions", json=body)
        changed = {**body, "name": "Nombre importado"}
        del changed["hours"]
        result = mx.post("/v1/import/institutions", json=[changed]).json()
        after = mx.get(f"/v1/institutions/{body['id']}").json()
        history = mx.get(f"/v1/institutions/{body['id']}/history").json()["items"]
    assert (result["created"], result["updated"]) == (0, 1)
    assert (after["name"], after["hours"]) == ("Nombre importado", "")
    assert history[-1]["changes"]["hours"] == ["Mon-Fri 08:00-16:00", ""]


def test_areas_and_focal_points_import_parents_first(directory: RunningDirectory):
    parent, child = f"MX-{unique('P').upper()[-6:]}", f"MX-CHP-{unique('C').upper()[-6:]}"
    grandchild = f"{parent}-SUB"
    areas = [
        {"id": grandchild, "country": "MX", "name": "Sub", "kind": "municipality",
         "parent_id": parent},
        {"id": parent, "country": "MX", "name": "Región", "kind": "region"},
        {"id": child, "country": "MX", "name": "Municipio", "kind": "municipality",
         "parent_id": "MX-CHP"},
    ]
    fp_id = unique("mx-fp-imp")
    focal_points = [{"id": fp_id, "institution_id": "mx-sndif", "kind": "desk", "name": "Mesa",
                     "topics": "reception", "areas": grandchild,
                     "channels": '[{"kind":"email","value":"m@sndif.example.org"}]'}]
    with directory.client("country_admin_MX") as mx:
        result = mx.post("/v1/import/areas", json=areas)
        assert result.status_code == 200, result.text
        assert result.json()["created"] == 3
        imported = mx.post("/v1/import/focal-points", content=csv_text(focal_points),
                           headers=CSV)
        assert imported.status_code == 200, imported.text
        lookup = mx.get("/v1/focal-points/lookup", params={"country": "MX", "topic": "reception",
                                                           "area": grandchild}).json()
    assert lookup["results"][0]["focal_point"]["id"] == fp_id


def test_import_format_problems(directory: RunningDirectory):
    with directory.client("country_admin_MX") as mx:
        assert_problem(mx.post("/v1/import/institutions", content="id,colour\nx,red\n",
                               headers=CSV), 422, "import_rejected")
        assert_problem(mx.post("/v1/import/institutions", content="<xml/>",
                               headers={"Content-Type": "application/xml"}), 415,
                       "unsupported_media_type")
        assert_problem(mx.post("/v1/import/institutions", content="{",
                               headers={"Content-Type": "application/json"}), 422,
                       "invalid_json")
        assert_problem(mx.post("/v1/import/institutions", json={"id": "x"}), 422,
                       "invalid_json")
        assert_problem(mx.post("/v1/import/institutions", json=[]), 422, "empty_import")
        assert_problem(mx.post("/v1/import/countries", json=[]), 422, "invalid_request")
        assert_problem(mx.post("/v1/import/institutions", content=b"id\n\xff\xfe",
                               headers=CSV), 422, "invalid_encoding")
    with directory.client("consular_officer_HN") as officer:
        assert_problem(officer.post("/v1/import/institutions",
                                    json=[institution_body(unique("hn-o"), country="HN")]),
                       403, "role_not_allowed")


def test_csv_cells_with_json_are_checked_like_any_field(directory: RunningDirectory):
    row = csv_row(unique("mx-cell"), channels="[not json")
    with directory.client("country_admin_MX") as mx:
        body = assert_problem(mx.post("/v1/import/institutions", content=csv_text([row]),
                                      headers=CSV), 422, "import_rejected")
    assert [(e["line"], e["field"]) for e in body["errors"]] == [(2, "channels")]
    assert json.dumps(body).count("[not json") == 0  # values are never echoed
