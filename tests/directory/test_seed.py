"""Issue #3, point 5: the seed `enlace up` loads."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from services.directory.seed import COUNTRIES, provision_directory
from tests.directory.conftest import GATEWAY_INSTITUTIONS, RunningDirectory
from tests.directory.test_transfer import version

MEMBERS = [code for code, _, _, member in COUNTRIES if member]


def export(directory: RunningDirectory, kind: str) -> list[dict]:
    with directory.client() as admin:
        return admin.get(f"/v1/export/{kind}").json()


def test_every_member_country_has_its_national_institutions(directory: RunningDirectory):
    types = defaultdict(set)
    for institution in export(directory, "institutions"):
        types[institution["country"]].add(institution["type"])
    assert len(MEMBERS) == 11
    for country in MEMBERS:
        assert {"foreign-ministry", "migration-authority"} <= types[country], country
        if country != "CA":  # child welfare is provincial in Canada
            assert "child-protection-authority" in types[country], country


@pytest.mark.parametrize("country", ["GT", "HN", "SV"])
@pytest.mark.parametrize(("city", "district"), [("tapachula", "MX-CHP"), ("houston", "US-TX")])
def test_consulates_with_their_consular_districts(directory: RunningDirectory, country, city,
                                                  district):
    with directory.client("consular_officer_HN") as officer:
        consulate = officer.get(f"/v1/institutions/{country.lower()}-consulado-{city}").json()
        ministry = officer.get(f"/v1/institutions/{consulate['parent_id']}").json()
    assert consulate["type"] == "consulate" and consulate["country"] == country
    assert consulate["areas"] == [district]
    assert (ministry["type"], ministry["country"]) == ("foreign-ministry", country)


def test_contact_details_are_clearly_invented(directory: RunningDirectory):
    channels = [c for kind in ("institutions", "focal-points") for entry in export(directory, kind)
                for c in entry["channels"]]
    assert len(channels) > 100
    for channel in channels:
        value = channel["value"]
        if channel["kind"] == "email":
            assert re.fullmatch(r"[\w.-]+@[\w.-]+\.example\.org", value), value
        elif channel["kind"] == "phone":
            assert value.startswith("+000 "), value
        else:
            assert re.fullmatch(r"https://[\w.-]+\.example\.org", value), value


def test_every_focal_point_belongs_to_a_seeded_institution_and_can_be_called(
        directory: RunningDirectory):
    institutions = {i["id"] for i in export(directory, "institutions")}
    focal_points = export(directory, "focal-points")
    assert {fp["institution_id"] for fp in focal_points} <= institutions
    assert all(fp["channels"] and fp["topics"] for fp in focal_points)
    assert set(GATEWAY_INSTITUTIONS) <= institutions


def test_loading_the_seed_again_changes_nothing(directory: RunningDirectory):
    before = version(directory)
    tokens = {i: directory.tokens[f"gateway:{i}"] for i in GATEWAY_INSTITUTIONS}
    provision_directory(directory.settings.database_url, tokens,
                        directory.tokens["regional_admin"])
    assert version(directory) == before
