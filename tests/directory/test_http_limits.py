"""Issue 8, point 6: a directory import nested without end, and integers beyond their column, are
invalid requests (422), never a 500; nothing is applied."""

from __future__ import annotations

from tests.directory.conftest import RunningDirectory
from tests.directory.test_transfer import version
from tests.helpers import assert_problem


def test_an_import_nested_2000_deep_is_refused_and_nothing_is_applied(
        directory: RunningDirectory):
    before = version(directory)
    deep = "[" * 2000 + "]" * 2000
    with directory.client() as admin:
        response = admin.post("/v1/import/institutions", content=deep,
                              headers={"Content-Type": "application/json"})
    assert_problem(response, 422, "json_too_deep")
    assert version(directory) == before


def test_brackets_inside_strings_do_not_count_as_nesting(directory: RunningDirectory):
    name = "[" * 100 + "{" * 100
    with directory.client() as admin:
        response = admin.post("/v1/import/institutions", json=[{"id": name}])
    body = assert_problem(response, 422, "import_rejected")
    assert name not in response.text, body


def test_a_snapshot_since_a_version_beyond_32_bits_is_an_invalid_request(
        directory: RunningDirectory):
    with directory.client() as admin:
        response = admin.get("/v1/snapshot", params={"since": 2**31})
    assert_problem(response, 422, "invalid_request")


def test_who_may_ask_is_answered_before_what_is_asked(directory: RunningDirectory):
    """Found by the access matrix: an entry of another country with an unknown parent was
    answered 422 unknown_area (telling the caller what exists there) instead of 403."""
    area = {"id": "MX-ZZFOREIGN", "country": "MX", "name": "Zona", "kind": "state",
            "parent_id": "MX-ZZNONE"}
    with directory.client("country_admin_HN") as hn:
        assert_problem(hn.post("/v1/areas", json=area), 403, "not_your_country")
        assert_problem(hn.patch("/v1/institutions/mx-sndif", json={"areas": ["MX-ZZNONE"]}),
                       403, "not_your_country")
    with directory.client("country_admin_MX") as mx:
        assert_problem(mx.post("/v1/areas", json=area), 422, "unknown_area")
