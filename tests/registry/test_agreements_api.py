"""Agreements through the registry's API: drafts, signatures by every party, lifecycle,
amendments as new versions, and every change in the audit log."""

from __future__ import annotations

import json

import pytest
from joserfc import jws
from joserfc.jwk import OKPKey

from shared.protocol.envelope import generate_signing_key
from tests.helpers import assert_problem as problem
from tests.registry.conftest import Registry, agreement_body


def test_a_new_agreement_is_a_draft_made_by_a_regional_administrator(registry: Registry):
    problem(registry.call("auditor", "POST", "/v1/agreements", json=agreement_body()),
            403, "role_not_allowed")
    created = registry.create()
    assert (created["version"], created["status"]) == (1, "draft")
    assert created["unsigned_parties"] == ["mx-sndif", "hn-senaf"]
    assert created["legal_bases"] == ["consent", "best-interests-determination"]
    assert created["retention_days"] == 365


def test_a_party_drafts_through_its_gateway_and_nobody_else_does(registry: Registry):
    problem(registry.call("gt-sbs", "POST", "/v1/agreements", json=agreement_body()),
            403, "not_a_party")
    by_country = registry.call("hn-senaf", "POST", "/v1/agreements",
                               json=agreement_body(id="agr-by-country", parties=["mx-sndif", "HN"]))
    assert by_country.status_code == 201, by_country.text
    created = registry.call("mx-sndif", "POST", "/v1/agreements", json=agreement_body())
    assert created.status_code == 201, created.text
    assert (created.json()["status"], created.json()["unsigned_parties"]) == (
        "draft", ["mx-sndif", "hn-senaf"])
    problem(registry.call("mx-sndif", "POST", "/v1/agreements/agr-test/versions/1/status",
                          json={"status": "awaiting-signatures"}), 403, "role_not_allowed")


@pytest.mark.parametrize(("overrides", "status", "code"), [
    ({"valid_to": "2020-01-01T00:00:00Z"}, 422, "invalid_validity"),
    ({"parties": ["mx-sndif", "mx-sndif"]}, 422, "duplicate_party"),
    ({"parties": ["mx-sndif", "not a party"]}, 422, "invalid_request"),
    ({"purposes": ["curiosity"]}, 422, "invalid_request"),
    ({"legal_bases": []}, 422, "invalid_request"),
    ({"retention_days": 0}, 422, "invalid_request"),
    ({"valid_from": "2026-01-01T00:00:00"}, 422, "invalid_request"),  # no time zone
    ({"signed": True}, 422, "invalid_request"),
])
def test_bad_agreements_are_refused_and_nothing_is_written(registry: Registry, overrides,
                                                           status, code):
    response = registry.call("admin", "POST", "/v1/agreements", json=agreement_body(**overrides))
    problem(response, status, code)
    assert registry.ok("admin", "GET", "/v1/agreements") == {"items": [], "next": None}
    assert registry.entries() == []


def test_an_agreement_id_is_taken_once(registry: Registry):
    registry.create()
    problem(registry.call("admin", "POST", "/v1/agreements", json=agreement_body()),
            409, "agreement_exists")
    problem(registry.call("admin", "GET", "/v1/agreements/nope"), 404, "agreement_not_found")


def test_active_only_after_every_party_signed(registry: Registry):
    registry.create(parties=["mx-sndif", "HN"])
    registry.consent()
    # A draft is not signed: it is submitted first.
    problem(registry.sign("agr-test", 1, "mx-sndif"), 409, "not_awaiting_signatures")
    assert registry.set_status("agr-test", "awaiting-signatures").status_code == 200

    first = registry.sign("agr-test", 1, "mx-sndif")
    assert first.status_code == 201, first.text
    assert first.json()["status"] == "awaiting-signatures"
    assert first.json()["unsigned_parties"] == ["HN"]
    assert registry.reasons() == ["agreement_not_active"]
    # Nobody may skip the signatures.
    problem(registry.set_status("agr-test", "active"), 409, "invalid_status_change")

    # SENAF's administrator signs for Honduras, the party.
    last = registry.sign("agr-test", 1, "hn-senaf", party="HN")
    assert last.status_code == 201, last.text
    agreement = last.json()
    assert agreement["status"] == "active"
    assert agreement["unsigned_parties"] == []
    assert registry.decide()["decision"] == "allow"

    # Each signature verifies, with the stock library, over exactly the canonical content.
    content = registry.ok("auditor", "GET", "/v1/agreements/agr-test/versions/1/content")
    assert json.loads(content["canonical"]) == content["content"]
    for signature in agreement["signatures"]:
        key = OKPKey.import_key(registry.directory.signing_keys(signature["signer_id"])[0])
        payload = json.loads(jws.deserialize_compact(signature["jws"], key,
                                                     algorithms=["Ed25519"]).payload)
        assert payload["agreement"] == content["content"]
        assert payload["signer_role"] == "country_admin"
    assert [s["party"] for s in agreement["signatures"]] == ["mx-sndif", "HN"]


def test_signatures_that_do_not_count(registry: Registry):
    registry.create()
    registry.set_status("agr-test", "awaiting-signatures")
    stranger = generate_signing_key()
    checks = [
        (registry.sign("agr-test", 1, "mx-sndif", key=stranger), 422, "invalid_signature"),
        (registry.sign("agr-test", 1, "mx-sndif", role="caseworker"),
         403, "signer_role_not_allowed"),
        (registry.sign("agr-test", 1, "gt-sbs"), 403, "not_a_party"),
        (registry.sign("agr-test", 1, "mx-pfpnna", party="mx-sndif"), 403, "not_a_party"),
        (registry.sign("agr-test", 1, "mx-sndif", content={"title": "something else"}),
         422, "signature_content_mismatch"),
        (registry.sign("agr-test", 1, "hn-senaf", submitter="mx-sndif"),
         403, "not_your_institution"),
        (registry.call("admin", "POST", "/v1/agreements/agr-test/versions/1/signatures",
                       json={"jws": registry.signature("agr-test", 1, "mx-sndif")}),
         403, "role_not_allowed"),
        (registry.call("mx-sndif", "POST", "/v1/agreements/agr-test/versions/1/signatures",
                       json={"jws": "not.a.jws"}), 422, "invalid_signature"),
    ]
    for response, status, code in checks:
        problem(response, status, code)
    assert registry.ok("admin", "GET", "/v1/agreements/agr-test")["signatures"] == []
    assert registry.sign("agr-test", 1, "mx-sndif").status_code == 201
    problem(registry.sign("agr-test", 1, "mx-sndif"), 409, "already_signed")


def test_a_signature_is_bound_to_its_version(registry: Registry):
    registry.activate()
    registry.ok("admin", "POST", "/v1/agreements/agr-test/versions",
                json={k: v for k, v in agreement_body(retention_days=730).items() if k != "id"})
    registry.set_status("agr-test", "awaiting-signatures", version=2)
    old_content = registry.ok("mx-sndif", "GET",
                              "/v1/agreements/agr-test/versions/1/content")["content"]
    problem(registry.sign("agr-test", 2, "mx-sndif", content=old_content),
            422, "signature_content_mismatch")


def test_an_amendment_is_a_new_version_and_the_old_one_is_kept(registry: Registry):
    registry.activate()
    registry.consent(data_categories=["identity", "protection", "health"])
    assert registry.decide(data_categories=["identity", "health"])["withheld_categories"] == [
        "health"]

    terms = {k: v for k, v in agreement_body(
        data_categories=["identity", "protection", "child-views", "health"]).items() if k != "id"}
    amended = registry.ok("admin", "POST", "/v1/agreements/agr-test/versions", json=terms)
    assert (amended["version"], amended["status"]) == (2, "draft")
    problem(registry.call("admin", "POST", "/v1/agreements/agr-test/versions", json=terms),
            409, "amendment_pending")
    # Until version 2 is active, version 1 is in force.
    assert registry.ok("admin", "GET", "/v1/agreements/agr-test")["version"] == 1
    assert registry.decide(data_categories=["identity", "health"])["agreement_version"] == 1

    # A draft may still change; not once it awaits signatures.
    terms["retention_days"] = 400
    assert registry.ok("admin", "PUT", "/v1/agreements/agr-test/versions/2",
                       json=terms)["retention_days"] == 400
    registry.set_status("agr-test", "awaiting-signatures", version=2)
    problem(registry.call("admin", "PUT", "/v1/agreements/agr-test/versions/2", json=terms),
            409, "agreement_not_editable")
    for signer in ("mx-sndif", "hn-senaf"):
        assert registry.sign("agr-test", 2, signer).status_code == 201

    versions = registry.ok("auditor", "GET", "/v1/agreements/agr-test/versions")["items"]
    assert [(v["version"], v["status"]) for v in versions] == [(1, "superseded"), (2, "active")]
    assert len(versions[0]["signatures"]) == 2  # the old version keeps its signatures
    decision = registry.decide(data_categories=["identity", "health"])
    assert (decision["agreement_version"], decision["withheld_categories"]) == (2, [])


def test_suspend_resume_terminate(registry: Registry):
    registry.activate()
    registry.consent()
    assert registry.set_status("agr-test", "suspended").json()["status"] == "suspended"
    assert registry.reasons() == ["agreement_not_active"]
    assert registry.set_status("agr-test", "active").json()["status"] == "active"
    assert registry.decide()["decision"] == "allow"
    assert registry.set_status("agr-test", "terminated").json()["status"] == "terminated"
    assert registry.reasons() == ["agreement_not_active"]
    problem(registry.set_status("agr-test", "active"), 409, "invalid_status_change")
    terms = {k: v for k, v in agreement_body().items() if k != "id"}
    problem(registry.call("admin", "POST", "/v1/agreements/agr-test/versions", json=terms),
            409, "agreement_terminated")
    problem(registry.call("mx-sndif", "POST", "/v1/agreements/agr-test/versions/1/status",
                          json={"status": "suspended"}), 403, "role_not_allowed")


def test_every_agreement_change_is_in_the_audit_log(registry: Registry):
    registry.activate()
    registry.set_status("agr-test", "suspended")
    entries = registry.entries()
    assert [(e["event_type"], e["institution_id"]) for e in entries] == [
        ("agreement-created", "crm-secretariat"),
        ("agreement-submitted", "crm-secretariat"),
        ("agreement-signed", "mx-sndif"),
        ("agreement-signed", "hn-senaf"),
        ("agreement-activated", "hn-senaf"),
        ("agreement-suspended", "crm-secretariat"),
    ]
    assert {e["agreement_id"] for e in entries} == {"agr-test"}
    assert {e["source"] for e in entries} == {"registry"}
    assert [e["leaf_index"] for e in entries] == list(range(6))
