"""The policy decision as a pure function: each deny reason, and what an allow carries."""

from datetime import UTC, datetime, timedelta

import pytest

from services.registry.models import Agreement
from services.registry.schemas import DecisionRequest
from services.registry.service import decide

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def agreement(**overrides):
    fields = {
        "id": "agr-1", "title": "t", "parties": ["mx-sndif", "hn-senaf"],
        "message_types": ["referral"], "purposes": ["reception-and-care"],
        "data_categories": ["identity", "protection"],
        "valid_from": NOW - timedelta(days=1), "valid_to": NOW + timedelta(days=365),
        "status": "active",
    }
    return Agreement(**{**fields, **overrides})


def request(**overrides):
    fields = {"sender": "mx-sndif", "recipient": "hn-senaf", "message_type": "referral",
              "purpose": "reception-and-care", "data_categories": ["identity", "protection"]}
    return DecisionRequest(**{**fields, **overrides})


def test_allow_names_the_agreement_and_categories():
    decision = decide([agreement()], request(), NOW)
    assert decision.decision == "allow"
    assert decision.agreement_id == "agr-1"
    assert decision.allowed_categories == ["identity", "protection"]
    assert decision.withheld_categories == []


def test_categories_outside_the_agreement_are_withheld():
    decision = decide([agreement()], request(data_categories=["identity", "health"]), NOW)
    assert decision.decision == "allow"
    assert decision.allowed_categories == ["identity"]
    assert decision.withheld_categories == ["health"]


def test_no_agreement():
    decision = decide([], request(), NOW)
    assert decision.decision == "deny"
    assert [r.code for r in decision.reasons] == ["no_agreement"]


@pytest.mark.parametrize(("overrides", "code"), [
    ({"status": "suspended"}, "agreement_not_active"),
    ({"valid_to": NOW - timedelta(seconds=1)}, "agreement_out_of_validity"),
    ({"valid_from": NOW + timedelta(days=1)}, "agreement_out_of_validity"),
    ({"message_types": ["receipt"]}, "message_type_not_allowed"),
    ({"purposes": ["family-tracing"]}, "purpose_not_allowed"),
])
def test_each_deny_reason(overrides, code):
    decision = decide([agreement(**overrides)], request(), NOW)
    assert decision.decision == "deny"
    assert [r.code for r in decision.reasons] == [code]


def test_one_good_agreement_among_bad_ones_allows():
    decision = decide([agreement(id="old", status="terminated"), agreement(id="new")],
                      request(), NOW)
    assert decision.decision == "allow"
    assert decision.agreement_id == "new"
