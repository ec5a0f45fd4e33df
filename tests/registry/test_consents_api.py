"""Consents and other legal bases, and the policy decision, through the registry's API."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from shared.protocol.envelope import import_jwk, public_jwk, verify
from shared.protocol.policy import PolicySnapshot
from tests.helpers import assert_problem
from tests.registry.conftest import NOW, Registry, consent_body

LATER = (NOW + timedelta(days=30)).isoformat()
EARLIER = (NOW - timedelta(days=30)).isoformat()


@pytest.mark.parametrize("overrides", [
    {"child_name": "Ana"},                                  # no field for personal data
    {"child_views": "Wants to live with her grandmother"},  # views are coded, never words
    {"case_reference": "Ana Lucía Ejemplo"},                # a reference, not a name
    {"child_heard": True, "child_views": None},
    {"child_heard": False, "child_views": None},            # why not heard?
    {"basis": "legal-obligation", "given_by": "parent"},    # only an authority decides that
    {"recipients": []},
    {"purposes": ["curiosity"]},
])
def test_consents_carry_no_personal_data_and_must_be_coherent(registry: Registry, overrides):
    response = registry.call("mx-sndif", "POST", "/v1/consents", json=consent_body(**overrides))
    body = assert_problem(response, 422, "invalid_request")
    assert "Ana" not in response.text and "grandmother" not in response.text
    assert body["errors"]
    assert registry.ok("auditor", "GET", "/v1/consents")["items"] == []
    assert registry.entries() == []


def test_a_consent_is_recorded_by_the_case_holders_gateway(registry: Registry):
    assert_problem(registry.call("admin", "POST", "/v1/consents", json=consent_body()),
            403, "role_not_allowed")
    assert_problem(registry.call("mx-sndif", "POST", "/v1/consents", json=consent_body(
        valid_from=LATER, valid_to=EARLIER)), 422, "invalid_validity")
    consent = registry.consent()
    assert consent["holder_id"] == "mx-sndif"
    assert (consent["child_heard"], consent["child_views"]) == (True, "agrees")
    assert consent["withdrawn_at"] is None
    # Only the holder's gateway, auditors and administrators see it.
    assert_problem(registry.call("hn-senaf", "GET", f"/v1/consents/{consent['id']}"),
            404, "consent_not_found")
    assert registry.ok("hn-senaf", "GET", "/v1/consents")["items"] == []
    assert registry.ok("auditor", "GET", "/v1/consents",
                       params={"case_reference": "MX-TEST-0001"})["items"] == [consent]
    [entry] = registry.entries(event_type="consent-recorded")
    assert entry["case_reference"] == "MX-TEST-0001"
    assert entry["detail"]["consent_id"] == consent["id"]


def test_a_withdrawal_takes_effect_on_the_next_decision(registry: Registry):
    registry.activate()
    consent = registry.consent()
    assert registry.decide()["decision"] == "allow"
    assert_problem(registry.call("hn-senaf", "POST", f"/v1/consents/{consent['id']}/withdrawal",
                          json={"withdrawn_by": "guardian", "reason": "changed-mind"}),
            404, "consent_not_found")

    withdrawn = registry.ok("mx-sndif", "POST", f"/v1/consents/{consent['id']}/withdrawal",
                            json={"withdrawn_by": "guardian", "reason": "changed-mind"})
    assert withdrawn["withdrawn_at"] is not None
    assert registry.reasons() == ["consent_withdrawn"]
    # The receiving side asks too, and hears the same.
    assert registry.decide(actor="hn-senaf")["decision"] == "deny"

    # Recorded, never deleted; withdrawn once.
    [kept] = registry.ok("mx-sndif", "GET", "/v1/consents")["items"]
    assert kept["id"] == consent["id"] and kept["withdrawal_reason"] == "changed-mind"
    assert_problem(registry.call("mx-sndif", "POST", f"/v1/consents/{consent['id']}/withdrawal",
                          json={"withdrawn_by": "guardian", "reason": "changed-mind"}),
            409, "consent_already_withdrawn")
    assert [e["event_type"] for e in registry.entries(case_reference="MX-TEST-0001")] == [
        "consent-recorded", "consent-withdrawn"]


def _scenario(registry: Registry, code: str) -> dict[str, Any]:
    """Set the registry up so that the default decision is denied for `code`; return the
    request's overrides."""
    agreement: dict[str, Any] = {}
    consent: dict[str, Any] | None = {}
    request: dict[str, Any] = {}
    match code:
        case "no_agreement":
            request = {"sender": "mx-pfpnna", "actor": "mx-pfpnna"}
        case "agreement_not_active":
            registry.create()
        case "agreement_out_of_validity":
            agreement = {"valid_from": LATER, "valid_to": (NOW + timedelta(days=60)).isoformat()}
        case "message_type_not_allowed":
            agreement = {"message_types": ["receipt"]}
        case "purpose_not_allowed":
            agreement = {"purposes": ["family-tracing"]}
        case "category_not_allowed":
            request = {"data_categories": ["health"]}
        case "no_case_reference":
            request = {"case_reference": None}
        case "no_consent":
            consent = None
        case "consent_out_of_validity":
            consent = {"valid_from": EARLIER, "valid_to": (NOW - timedelta(days=1)).isoformat()}
        case "legal_basis_not_accepted":
            consent = {"basis": "legal-obligation", "given_by": "authority"}
        case "recipient_not_covered":
            consent = {"recipients": ["gt-sbs"]}
        case "purpose_not_covered":
            agreement = {"purposes": ["reception-and-care", "family-tracing"]}
            consent = {"purposes": ["family-tracing"]}
        case "categories_not_covered":
            consent = {"data_categories": ["child-views"]}
    if code not in ("agreement_not_active", "no_agreement"):
        registry.activate(**agreement)
    if consent is not None:
        registry.consent(**consent)
    return request


@pytest.mark.parametrize("code", [
    "no_agreement", "agreement_not_active", "agreement_out_of_validity",
    "message_type_not_allowed", "purpose_not_allowed", "category_not_allowed",
    "no_case_reference", "no_consent", "consent_out_of_validity", "legal_basis_not_accepted",
    "recipient_not_covered", "purpose_not_covered", "categories_not_covered",
])
def test_each_deny_reason(registry: Registry, code):
    request = _scenario(registry, code)
    assert registry.reasons(**request) == [code]


def test_a_legal_basis_other_than_consent(registry: Registry):
    registry.activate()
    bid = registry.consent(basis="best-interests-determination", given_by="authority",
                           basis_reference="BID-HN-2026-77", child_heard=False,
                           child_views=None, not_heard_reason="too-young")
    decision = registry.decide()
    assert decision["decision"] == "allow"
    assert decision["legal_bases"] == [{"id": bid["id"], "basis": "best-interests-determination"}]


def test_countries_as_parties_and_recipients(registry: Registry):
    registry.activate(parties=["MX", "hn-senaf"])
    registry.consent(holder="mx-pfpnna", recipients=["HN"])
    assert registry.decide(actor="mx-pfpnna", sender="mx-pfpnna")["decision"] == "allow"
    assert registry.decide(actor="hn-senaf", sender="mx-pfpnna")["decision"] == "allow"
    assert registry.reasons(actor="gt-sbs", sender="gt-sbs") == ["no_agreement"]


def test_only_a_party_to_the_flow_may_ask(registry: Registry):
    assert_problem(registry.call("gt-sbs", "POST", "/v1/policy/decisions", json={
        "sender": "mx-sndif", "recipient": "hn-senaf", "message_type": "referral",
        "purpose": "reception-and-care"}), 403, "not_your_institution")
    assert_problem(registry.call("auditor", "POST", "/v1/policy/decisions", json={
        "sender": "mx-sndif", "recipient": "hn-senaf", "message_type": "referral",
        "purpose": "reception-and-care"}), 403, "role_not_allowed")
    assert_problem(registry.call("mx-sndif", "POST", "/v1/policy/decisions", json={
        "sender": "mx-sndif", "recipient": "hn-senaf", "message_type": "referral",
        "purpose": "curiosity"}), 422, "invalid_request")


def test_the_policy_snapshot_is_signed_and_scoped(registry: Registry):
    registry.activate()
    registry.activate(id="agr-other", parties=["gt-sbs", "hn-senaf"])
    registry.consent()
    registry.consent(holder="gt-sbs", case_reference="GT-1")
    snapshot = registry.ok("mx-sndif", "GET", "/v1/policy/snapshot")
    key = public_jwk(import_jwk(json.loads(registry.key_path.read_text())))
    _, payload = verify(snapshot["jws"], [key])
    parsed = PolicySnapshot.model_validate(payload)
    assert parsed.institution_id == "mx-sndif"
    assert parsed.expires_at == snapshot["expires_at"] > parsed.issued_at
    assert [a.id for a in parsed.agreements] == ["agr-test"]
    assert [b.case_reference for b in parsed.bases] == ["MX-TEST-0001"]
    assert_problem(registry.call("auditor", "GET", "/v1/policy/snapshot"), 403, "role_not_allowed")
