"""The directory's search rules as a gateway applies them to its snapshot, and the links
its console makes of contact channels."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.exchange.console.lookup_pages import channel_link
from shared.protocol.directory_search import RecordSearch, area_chain, coverage, fold, search_terms


def test_folding_ignores_case_and_accents() -> None:
    assert fold("MÉXICO Niñez") == "mexico ninez"
    assert search_terms("  Secretaría, de la NIÑEZ!") == ["secretaria", "de", "la", "ninez"]


def test_an_entry_covers_its_areas_else_its_institutions_else_the_country() -> None:
    institution = {"id": "hn-x", "country": "HN", "areas": ["HN-CR"]}
    assert coverage({"areas": ["HN-CR-SPS"]}, institution) == ["HN-CR-SPS"]
    assert coverage({"areas": []}, institution) == ["HN-CR"]
    assert coverage({"areas": [], "country": "HN"}) == ["HN"]


def test_an_area_chain_stops_on_a_loop() -> None:
    areas = {"A": {"id": "A", "parent_id": "B"}, "B": {"id": "B", "parent_id": "A"}}
    assert len(area_chain("A", areas.get)) == 6


def test_an_inactive_or_expired_focal_point_is_not_offered() -> None:
    institution = {"id": "hn-x", "country": "HN", "name": "X", "areas": [], "active": True}
    base = {"institution_id": "hn-x", "name": "Desk", "topics": ["reception"], "areas": []}
    records = {"countries": {}, "areas": {}, "institutions": {"hn-x": institution},
               "focal_points": {
                   "now": {**base, "id": "now"},
                   "off": {**base, "id": "off", "active": False},
                   "old": {**base, "id": "old", "valid_to": "2020-01-01T00:00:00+00:00"}}}
    answer = RecordSearch(records).lookup("HN", "reception", None, None, datetime.now(UTC))
    assert [r["focal_point"]["id"] for r in answer["results"]] == ["now"]


@pytest.mark.parametrize(("channel", "link"), [
    ({"kind": "phone", "value": "+000 52 555 0922"}, "tel:+000525550922"),
    ({"kind": "whatsapp", "value": "+504 (9) 555-0101"}, "tel:+50495550101"),
    ({"kind": "email", "value": "desk@example.org"}, "mailto:desk@example.org"),
    ({"kind": "website", "value": "https://example.org"}, "https://example.org"),
    ({"kind": "website", "value": "javascript:alert(1)"}, None),
    ({"kind": "fax", "value": "+000 1"}, None),
    ({"kind": "address", "value": "Calle 1"}, None),
])
def test_channels_become_links(channel: dict[str, str], link: str | None) -> None:
    assert channel_link(channel) == link
