"""Issue 8, point 6: a referral whose consent does not cover a category it carries is
quarantined with that reason, not with "the agreement does not allow"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from services.exchange.transport.arrivals import Rejected, check_policy
from shared.protocol.policy import DecisionRequest, decide
from tests.registry.test_policy_function import agreement, basis

NOW = datetime.now(UTC)


class PolicyOf:
    """The registry's decision, computed by the real policy function from fixed terms."""

    def __init__(self, **basis_overrides: Any) -> None:
        self.basis = basis(valid_from=NOW - timedelta(days=1), **basis_overrides)

    def decide(self, acting_for: str, question: dict[str, Any]) -> dict[str, Any]:
        terms = agreement(valid_from=NOW - timedelta(days=1), valid_to=NOW + timedelta(days=9))
        decision = decide([terms], [self.basis], DecisionRequest.model_validate(question), NOW)
        return decision.model_dump(mode="json")


def check(registry: PolicyOf, categories: list[str]) -> None:
    gateway = SimpleNamespace(registry=registry)
    envelope = SimpleNamespace(sender="mx-sndif", type="referral", purpose="reception-and-care",
                               categories=categories, agreement="agr-1")
    check_policy(gateway, envelope, "hn-senaf", "CASE-1")  # type: ignore[arg-type]


def test_a_category_the_consent_does_not_cover_is_named_as_such():
    with pytest.raises(Rejected) as refused:
        check(PolicyOf(data_categories=["identity"]), ["identity", "protection"])
    assert refused.value.reason == "categories_not_covered"
    assert "agreement" not in refused.value.detail
    assert "protection" in refused.value.detail


def test_a_category_outside_the_agreement_is_still_category_not_allowed():
    with pytest.raises(Rejected) as refused:
        check(PolicyOf(data_categories=["identity", "protection", "health"]),
              ["identity", "protection", "health"])
    assert refused.value.reason == "category_not_allowed"
    assert "health" in refused.value.detail


def test_every_category_allowed_and_covered_passes():
    check(PolicyOf(), ["identity", "protection"])
