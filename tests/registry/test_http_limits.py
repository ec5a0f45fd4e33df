"""Issue 8, point 6: integers beyond what their database column holds, and bodies nested
without end, are refused as invalid requests (422), never a 500."""

from __future__ import annotations

import pytest

from shared.kit.limits import MAX_INT32, MAX_INT64
from tests.helpers import assert_problem
from tests.registry.conftest import Registry

# Versions and sequence numbers are INTEGER columns (32 bits in PostgreSQL); tree sizes and
# leaf indexes BIGINT. {n} is replaced by the value tried.
INTEGER_PARAMETERS = [
    ("/v1/agreements/agr-test/versions/{n}", MAX_INT32),
    ("/v1/agreements/agr-test/versions/{n}/content", MAX_INT32),
    ("/v1/audit/proofs/inclusion?leaf_index={n}&tree_size=1", MAX_INT64),
    ("/v1/audit/proofs/inclusion?leaf_index=0&tree_size={n}", MAX_INT64),
    ("/v1/audit/proofs/consistency?first=1&second={n}", MAX_INT64),
    ("/v1/audit/tree?start={n}&end={n}", MAX_INT64),
    ("/v1/audit/tree?start=0&end={n}", MAX_INT64),
]


@pytest.mark.parametrize("path, largest", INTEGER_PARAMETERS)
def test_an_integer_beyond_its_column_is_an_invalid_request(registry: Registry, path: str,
                                                            largest: int):
    registry.create()
    for too_big in (largest + 1, 2**63):
        response = registry.call("auditor", "GET", path.format(n=too_big))
        body = assert_problem(response, 422, "invalid_request")
        assert str(too_big) not in str([body["detail"], body["errors"]])


@pytest.mark.parametrize("path, largest", INTEGER_PARAMETERS)
def test_the_largest_value_a_column_holds_is_still_taken(registry: Registry, path: str,
                                                         largest: int):
    registry.create()
    response = registry.call("auditor", "GET", path.format(n=largest))
    assert response.status_code in (200, 404, 409, 422), response.text
    assert response.json().get("code") != "invalid_request", response.text


@pytest.mark.parametrize("method, path", [
    ("POST", "/v1/agreements/agr-test/versions/{n}/status"),
    ("PUT", "/v1/agreements/agr-test/versions/{n}"),
    ("POST", "/v1/agreements/agr-test/versions/{n}/signatures"),
])
def test_writes_to_a_version_beyond_32_bits_are_refused(registry: Registry, method: str,
                                                        path: str):
    registry.create()
    assert_problem(registry.call("admin", method, path.format(n=MAX_INT32 + 1), json={}), 422,
            "invalid_request")


def test_a_body_nested_too_deep_is_an_invalid_request(registry: Registry):
    deep = "[" * 2000 + "]" * 2000
    response = registry.client.post("/v1/agreements", content=deep, headers={
        "Authorization": f"Bearer {registry.tokens['admin']}",
        "Content-Type": "application/json"})
    assert_problem(response, 422, "json_too_deep")
    assert registry.call("admin", "GET", "/v1/agreements").json()["items"] == []
