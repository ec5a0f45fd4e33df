"""Issue 8, point 6: integers beyond what the database holds, and bodies nested without end,
are refused as invalid requests (422), never a 500."""

from __future__ import annotations

import pytest

from tests.registry.conftest import Registry
from tests.registry.test_agreements_api import problem

TOO_BIG = 2**63  # one past the largest 64-bit signed integer a database column holds


@pytest.mark.parametrize("path", [
    f"/v1/audit/entries?after_seq={TOO_BIG}",
    f"/v1/audit/proofs/inclusion?leaf_index={TOO_BIG}&tree_size=1",
    f"/v1/audit/proofs/consistency?first=1&second={TOO_BIG}",
    f"/v1/audit/tree?start=0&end={TOO_BIG}",
    f"/v1/agreements/agr-test/versions/{TOO_BIG}",
    f"/v1/agreements/agr-test/versions/{TOO_BIG}/content",
])
def test_an_integer_beyond_64_bits_is_an_invalid_request(registry: Registry, path: str):
    registry.create()
    body = problem(registry.call("auditor", "GET", path), 422, "invalid_request")
    assert str(TOO_BIG) not in str([body["detail"], body["errors"]])


def test_the_largest_64_bit_integer_is_still_taken(registry: Registry):
    registry.create()
    largest = TOO_BIG - 1
    assert registry.call("auditor", "GET", f"/v1/audit/entries?after_seq={largest}").json()[
        "items"] == []
    problem(registry.call("auditor", "GET", f"/v1/agreements/agr-test/versions/{largest}"),
            404, "agreement_not_found")


@pytest.mark.parametrize("method, path", [
    ("POST", f"/v1/agreements/agr-test/versions/{TOO_BIG}/status"),
    ("PUT", f"/v1/agreements/agr-test/versions/{TOO_BIG}"),
    ("POST", f"/v1/agreements/agr-test/versions/{TOO_BIG}/signatures"),
])
def test_writes_to_a_version_beyond_64_bits_are_refused(registry: Registry, method: str,
                                                        path: str):
    registry.create()
    problem(registry.call("admin", method, path, json={}), 422, "invalid_request")


def test_a_body_nested_too_deep_is_an_invalid_request(registry: Registry):
    deep = "[" * 2000 + "]" * 2000
    response = registry.client.post("/v1/agreements", content=deep, headers={
        "Authorization": f"Bearer {registry.tokens['admin']}",
        "Content-Type": "application/json"})
    problem(response, 422, "json_too_deep")
    assert registry.call("admin", "GET", "/v1/agreements").json() == []
