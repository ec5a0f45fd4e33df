"""The policy decision as a pure function (shared.protocol.policy): each deny reason, what an allow
carries, countries as parties."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.protocol.policy import AgreementTerms, BasisTerms, DecisionRequest, decide

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def agreement(**overrides):
    fields = {
        "id": "agr-1", "version": 1, "parties": ["mx-sndif", "hn-senaf"],
        "message_types": ["referral"], "purposes": ["reception-and-care"],
        "data_categories": ["identity", "protection"], "legal_bases": ["consent"],
        "valid_from": NOW - timedelta(days=1), "valid_to": NOW + timedelta(days=365),
        "status": "active",
    }
    return AgreementTerms(**{**fields, **overrides})


def basis(**overrides):
    fields = {
        "id": "c-1", "holder_id": "mx-sndif", "case_reference": "CASE-1", "basis": "consent",
        "recipients": ["hn-senaf"], "purposes": ["reception-and-care"],
        "data_categories": ["identity", "protection"], "valid_from": NOW - timedelta(days=1),
    }
    return BasisTerms(**{**fields, **overrides})


def request(**overrides):
    fields = {"sender": "mx-sndif", "recipient": "hn-senaf", "message_type": "referral",
              "purpose": "reception-and-care", "data_categories": ["identity", "protection"],
              "case_reference": "CASE-1"}
    return DecisionRequest(**{**fields, **overrides})


def codes(decision):
    assert decision.decision == "deny"
    return [r.code for r in decision.reasons]


def test_allow_names_the_agreement_the_basis_and_categories():
    decision = decide([agreement()], [basis()], request(), NOW)
    assert decision.decision == "allow"
    assert (decision.agreement_id, decision.agreement_version) == ("agr-1", 1)
    assert [(b.id, b.basis) for b in decision.legal_bases] == [("c-1", "consent")]
    assert decision.allowed_categories == ["identity", "protection"]
    assert decision.withheld_categories == []


def test_categories_outside_the_agreement_or_the_consent_are_withheld():
    decision = decide([agreement(data_categories=["identity", "protection", "health"])],
                      [basis(data_categories=["identity", "health"])],
                      request(data_categories=["identity", "protection", "health", "family"]),
                      NOW)
    assert decision.decision == "allow"
    assert decision.allowed_categories == ["identity", "health"]
    assert decision.withheld_categories == ["protection", "family"]


def test_no_categories_need_no_legal_basis():
    decision = decide([agreement()], [], request(data_categories=[], case_reference=None), NOW)
    assert decision.decision == "allow"
    assert decision.legal_bases == []


def test_no_agreement():
    assert codes(decide([], [basis()], request(), NOW)) == ["no_agreement"]


def test_an_agreement_between_others_does_not_cover():
    other = agreement(parties=["mx-sndif", "gt-sbs"])
    assert codes(decide([other], [basis()], request(), NOW)) == ["no_agreement"]


@pytest.mark.parametrize(("overrides", "code"), [
    ({"status": "suspended"}, "agreement_not_active"),
    ({"status": "awaiting-signatures"}, "agreement_not_active"),
    ({"valid_to": NOW - timedelta(seconds=1)}, "agreement_out_of_validity"),
    ({"valid_from": NOW + timedelta(days=1)}, "agreement_out_of_validity"),
    ({"message_types": ["receipt"]}, "message_type_not_allowed"),
    ({"purposes": ["family-tracing"]}, "purpose_not_allowed"),
    ({"data_categories": ["health"]}, "category_not_allowed"),
    ({"legal_bases": ["legal-obligation"]}, "legal_basis_not_accepted"),
])
def test_each_agreement_deny_reason(overrides, code):
    assert codes(decide([agreement(**overrides)], [basis()], request(), NOW)) == [code]


@pytest.mark.parametrize(("overrides", "code"), [
    ({"withdrawn_at": NOW - timedelta(minutes=1)}, "consent_withdrawn"),
    ({"valid_to": NOW - timedelta(seconds=1)}, "consent_out_of_validity"),
    ({"valid_from": NOW + timedelta(days=1)}, "consent_out_of_validity"),
    ({"recipients": ["gt-sbs"]}, "recipient_not_covered"),
    ({"purposes": ["family-tracing"]}, "purpose_not_covered"),
    ({"data_categories": ["health"]}, "categories_not_covered"),
])
def test_each_consent_deny_reason(overrides, code):
    assert codes(decide([agreement()], [basis(**overrides)], request(), NOW)) == [code]


def test_no_consent_and_no_case_reference():
    assert codes(decide([agreement()], [], request(), NOW)) == ["no_consent"]
    # A consent of another holder, or of another case, is not this case's consent.
    assert codes(decide([agreement()], [basis(holder_id="mx-pfpnna"), basis(
        case_reference="CASE-2")], request(), NOW)) == ["no_consent"]
    assert codes(decide([agreement()], [basis()], request(case_reference=None), NOW)) == [
        "no_case_reference"]


def test_a_withdrawn_consent_does_not_hide_another_basis():
    bid = basis(id="bid-1", basis="best-interests-determination")
    decision = decide([agreement(legal_bases=["consent", "best-interests-determination"])],
                      [basis(withdrawn_at=NOW - timedelta(minutes=1)), bid], request(), NOW)
    assert decision.decision == "allow"
    assert [b.id for b in decision.legal_bases] == ["bid-1"]


def test_one_good_agreement_among_bad_ones_allows():
    decision = decide([agreement(id="old", status="terminated"), agreement(id="new")],
                      [basis()], request(), NOW)
    assert decision.decision == "allow"
    assert decision.agreement_id == "new"


def test_countries_as_parties_and_as_recipients():
    countries = {"mx-pfpnna": "MX", "hn-senaf": "HN"}
    decision = decide([agreement(parties=["MX", "hn-senaf"])],
                      [basis(holder_id="mx-pfpnna", recipients=["HN"])],
                      request(sender="mx-pfpnna"), NOW, countries)
    assert decision.decision == "allow"
    # Two institutions of the same country are not two parties of a country agreement.
    same = decide([agreement(parties=["MX", "HN"])], [basis()],
                  request(recipient="mx-pfpnna"), NOW, {"mx-sndif": "MX", "mx-pfpnna": "MX"})
    assert codes(same) == ["no_agreement"]


def test_each_withheld_category_is_explained_by_its_real_reason():
    decision = decide([agreement(data_categories=["identity", "protection", "health"])],
                      [basis(data_categories=["identity", "health"])],
                      request(data_categories=["identity", "protection", "health", "family"]),
                      NOW)
    assert decision.decision == "allow"
    explained = {r.code: r.detail for r in decision.reasons}
    assert set(explained) == {"category_not_allowed", "categories_not_covered"}
    assert "family" in explained["category_not_allowed"]
    assert "protection" not in explained["category_not_allowed"]
    assert "protection" in explained["categories_not_covered"]
    assert "agreement" not in explained["categories_not_covered"]
