"""Issue 10, point 2: one API convention in every service's OpenAPI document: operation ids
that read well, one pagination on every list, and every refusal a typed problem."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from tests.shared.test_api_examples import documents  # noqa: F401  (the services' documents)

OPERATION_ID = re.compile(r"^[a-z0-9]+(_[a-z0-9]+)+$")
PROBLEM = "application/problem+json"
# Not lists of things: a JWK set (RFC 7517), a ranked answer with its own `limit`, an
# export (the same array an import takes back), and the signed snapshot.
NOT_PAGED = {("directory", "/v1/institutions/{institution_id}/jwks"),
             ("directory", "/v1/focal-points/lookup"), ("directory", "/v1/export/{kind}"),
             ("directory", "/v1/snapshot")}


def _operations(documents: dict[str, dict[str, Any]]  # noqa: F811
                ) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    for service, document in documents.items():
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                yield service, path, method, operation


def _schema(document: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    media = operation["responses"].get("200", {}).get("content", {}).get("application/json")
    schema = (media or {}).get("schema", {})
    ref = schema.get("$ref", "")
    return dict(document["components"]["schemas"][ref.rsplit("/", 1)[-1]]) if ref else schema


def test_operation_ids_read_as_thing_and_verb_and_are_unique(
        documents: dict[str, dict[str, Any]]) -> None:  # noqa: F811
    seen: dict[str, set[str]] = {}
    for service, path, method, operation in _operations(documents):
        name = operation["operationId"]
        assert OPERATION_ID.match(name), (service, method, path, name)
        assert "_v1_" not in name, (service, path, name)  # not FastAPI's name_path_method
        assert name not in seen.setdefault(service, set()), (service, name)
        seen[service].add(name)
    assert {"referrals_send", "referrals_get", "referrals_list", "referrals_act",
            "alerts_issue"} <= seen["gateway"]
    assert {"audit_entries_list", "consents_list"} <= seen["registry"]
    assert {"institutions_list", "focal_points_get", "snapshot_get"} <= seen["directory"]


def test_every_refusal_is_a_typed_problem_with_an_example(
        documents: dict[str, dict[str, Any]]) -> None:  # noqa: F811
    for service, path, method, operation in _operations(documents):
        if not path.startswith("/v1"):
            continue
        statuses = {s for s in operation["responses"] if s[0] in "45"}
        expected = {"401", "403", "422"} | ({"404"} if "{" in path else set()) | (
            {"409"} if method != "get" else set())
        assert expected <= statuses, (service, method, path, statuses)
        for status in statuses:
            content = operation["responses"][status]["content"]
            assert list(content) == [PROBLEM], (service, method, path, status)
            assert content[PROBLEM]["schema"] == {"$ref": "#/components/schemas/Problem"}
            assert content[PROBLEM]["example"]["status"] == int(status)
    for document in documents.values():
        problem = document["components"]["schemas"]["Problem"]
        assert {"type", "title", "status", "detail", "code"} <= set(problem["required"])
        assert problem.get("additionalProperties") is True, "extension fields are allowed"


def test_every_list_is_one_cursor_pagination(documents: dict[str, dict[str, Any]]  # noqa: F811
                                             ) -> None:
    lists = 0
    for service, path, method, operation in _operations(documents):
        if method != "get" or not path.startswith("/v1") or (service, path) in NOT_PAGED:
            continue
        schema = _schema(documents[service], operation)
        assert schema.get("type") != "array", f"{service} {path} answers a bare array"
        parameters = {p["name"] for p in operation.get("parameters", [])}
        if "items" not in schema.get("properties", {}) and not (
                service == "gateway" and "cursor" in parameters):
            continue  # one thing, not a list
        lists += 1
        assert {"limit", "cursor"} <= parameters, (service, path)
        assert not parameters & {"page", "page_size", "after_seq", "after_id", "before"}
        if schema:  # the gateway's lists of the registry's answer the registry's pages
            assert {"items", "next"} <= set(schema["properties"]), (service, path)
            assert {"items", "next"} <= set(schema.get("required", [])), (service, path)
    assert lists >= 17
