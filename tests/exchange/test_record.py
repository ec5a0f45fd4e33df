"""The registration record: each section carries its data category; sections go or stay."""

import pytest
from pydantic import ValidationError

from services.demo_data import SAMPLE_REFERRAL
from services.exchange.referrals.schemas import (
    SECTION_CATEGORY,
    ReferralRecord,
    categories_of,
    without_categories,
)


def test_every_section_has_a_data_category():
    assert set(SECTION_CATEGORY) == set(ReferralRecord.model_fields)
    schema = ReferralRecord.model_json_schema()["properties"]
    assert schema["health"]["x-data-category"] == "health"
    assert schema["best_interests"]["x-data-category"] == "legal-status"


def test_categories_of_the_sample_record():
    record = ReferralRecord.model_validate(SAMPLE_REFERRAL["record"]).model_dump(
        mode="json", exclude_none=True)
    assert categories_of(record) == ["child-views", "family", "identity", "legal-status",
                                     "location", "protection"]
    stripped = without_categories(record, ["location", "legal-status"])
    assert {"detection", "reception", "best_interests"}.isdisjoint(stripped)
    assert categories_of(stripped) == ["child-views", "family", "identity", "protection"]


@pytest.mark.parametrize(("path", "value"), [
    (("child", "nationalities"), ["Honduras"]),
    (("child", "date_of_birth"), "2999-01-01"),
    (("documents",), [{"type": "passport", "sha256": "not-a-hash"}]),
    (("best_interests", "status"), "maybe"),
    (("detection", "country"), "mexico"),
])
def test_fields_are_validated_one_by_one(path, value):
    import copy

    record = copy.deepcopy(SAMPLE_REFERRAL["record"])
    target = record
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ValidationError) as caught:
        ReferralRecord.model_validate(record)
    assert [e["loc"][0] for e in caught.value.errors()] == [path[0]]
