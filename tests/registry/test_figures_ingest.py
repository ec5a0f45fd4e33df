"""The registry takes in the gateways' statistics reports (issue 11): signed by an
institution of the report's country, on its country's subject, at the catalogue's
granularity; the newest of each institution is in force; a bad one is refused whole,
recorded with its reason and acknowledged (never retried)."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from services.registry.figures.models import (
    StatisticsCellRow,
    StatisticsRefusal,
    StatisticsReportRow,
)
from shared.kit.db import session_scope
from shared.protocol.envelope import sign
from shared.protocol.figures import STATISTICS_MEDIA_TYPE, Cell, Indicator
from tests.registry.conftest import NOW, Registry
from tests.registry.figures_helpers import D, ingest, referral, report, signed


def stored(registry: Registry) -> tuple[dict[str, str], dict[str, int]]:
    """The report in force per institution (its id), and the count of its cells summed."""
    with session_scope(registry.engine) as session:
        reports = {r.institution_id: r.report_id for r in session.exec(select(StatisticsReportRow))}
        totals: dict[str, int] = {}
        for cell in session.exec(select(StatisticsCellRow)):
            totals[cell.institution_id] = totals.get(cell.institution_id, 0) + cell.count
    return reports, totals


def refusals(registry: Registry) -> list[tuple[str, str | None, str | None]]:
    with session_scope(registry.engine) as session:
        return [(r.reason, r.subject_country, r.institution_id)
                for r in session.exec(select(StatisticsRefusal).order_by(StatisticsRefusal.id))]


def with_month(registry: Registry, month: str) -> bytes:
    """A report signed by its institution, with a value outside the month's vocabulary."""
    body = report("mx-sndif", GOOD).model_dump(mode="json")
    body["cells"][0]["dims"]["month"] = month
    return sign(body, registry.directory.keys["mx-sndif"], STATISTICS_MEDIA_TYPE).encode()


GOOD = [referral("MX", "HN", "2026-10", 12), referral("MX", "HN", "2026-10", 7, sex="female"),
        referral("MX", "HN", "2026-10", 5, sex="male"), referral("MX", "GT", "2026-11", 3)]


async def test_a_signed_report_is_taken_with_its_cells(registry: Registry) -> None:
    body = report("mx-sndif", GOOD)
    assert await ingest(registry, body) == ["ack"]
    reports, totals = stored(registry)
    assert reports == {"mx-sndif": body.report_id}
    assert totals == {"mx-sndif": 12 + 7 + 5 + 3}
    assert refusals(registry) == []


async def test_the_newest_report_of_an_institution_is_in_force(registry: Registry) -> None:
    older = report("mx-sndif", GOOD, computed_at=NOW - timedelta(hours=2))
    newer = report("mx-sndif", [referral("MX", "HN", "2026-10", 40)],
                   computed_at=NOW - timedelta(hours=1))
    other = report("mx-pfpnna", [referral("MX", "HN", "2026-10", 9)])
    assert await ingest(registry, newer, other) == ["ack", "ack"]
    assert await ingest(registry, older) == ["ack"]  # ignored: older than the one in force
    reports, totals = stored(registry)
    assert reports == {"mx-sndif": newer.report_id, "mx-pfpnna": other.report_id}
    assert totals == {"mx-sndif": 40, "mx-pfpnna": 9}
    newest = report("mx-sndif", [referral("MX", "SV", "2026-11", 1)], computed_at=NOW)
    assert await ingest(registry, newest) == ["ack"]
    assert stored(registry)[1] == {"mx-sndif": 1, "mx-pfpnna": 9}  # replaced, not added
    assert refusals(registry) == []


async def test_bad_reports_are_refused_whole_with_their_reason(registry: Registry) -> None:
    in_force = report("mx-sndif", GOOD, computed_at=NOW - timedelta(hours=3))
    assert await ingest(registry, in_force) == ["ack"]
    keys = registry.directory.keys
    too_fine = Cell(indicator=Indicator.referrals, count=2, dims={
        D.origin: "MX", D.destination: "HN", D.month: "2026-10", D.sex: "female",
        D.age_band: "0-5"})
    hn_report = report("hn-senaf", [referral("HN", "MX", "2026-10", 4)])
    cases = [
        ("signed with another institution's key",
         signed(registry, report("mx-sndif", GOOD), keys["mx-pfpnna"]), "enlace.stats.MX",
         "unknown_key"),
        ("an HN report from a MX institution", signed(registry, report(
            "mx-sndif", [referral("HN", "MX", "2026-10", 4)], country="HN")),
         "enlace.stats.HN", "wrong_country"),
        ("HN's report on MX's subject", signed(registry, hn_report), "enlace.stats.MX",
         "wrong_country"),
        ("two breakdowns in a cell", signed(registry, report("mx-sndif", [*GOOD, too_fine])),
         "enlace.stats.MX", "finer_than_catalogue"),
        ("a duration without its median", signed(registry, report("mx-sndif", [Cell(
            indicator=Indicator.referral_time_to_delivered, count=9,
            dims={D.origin: "MX", D.destination: "HN", D.month: "2026-10"})])),
         "enlace.stats.MX", "finer_than_catalogue"),
        ("the registry's own indicator", signed(registry, report("mx-sndif", [Cell(
            indicator=Indicator.consents_recorded, count=9,
            dims={D.country: "MX", D.month: "2026-10"})])), "enlace.stats.MX",
         "not_a_gateway_indicator"),
        ("another country's referrals", signed(registry, report(
            "mx-sndif", [*GOOD, referral("HN", "MX", "2026-10", 8)])), "enlace.stats.MX",
         "not_reporting_side"),
        ("a cell twice", signed(registry, report("mx-sndif", [*GOOD, GOOD[0]])),
         "enlace.stats.MX", "duplicate_cell"),
        ("an unknown institution", signed(registry, report(
            "mx-fantasma", GOOD, country="MX"), keys["mx-sndif"]), "enlace.stats.MX",
         "unknown_institution"),
        ("computed tomorrow", signed(registry, report(
            "mx-sndif", GOOD, computed_at=NOW + timedelta(days=1))), "enlace.stats.MX",
         "computed_in_future"),
        ("a date of birth as a month", with_month(registry, "2014-03-07"),
         "enlace.stats.MX", "malformed"),
        ("not a JWS", b"not a report", "enlace.stats.MX", "malformed"),
    ]
    outcomes = await ingest(registry, *[(data, subject) for _, data, subject, _ in cases])
    assert outcomes == ["ack"] * len(cases)
    assert [r[0] for r in refusals(registry)] == [reason for *_, reason in cases]
    assert {r[1] for r in refusals(registry)} <= {"MX", "HN"}
    reports, totals = stored(registry)
    assert reports == {"mx-sndif": in_force.report_id}  # nothing half-stored
    assert totals == {"mx-sndif": 27}
    # The same bytes again are recorded once.
    assert await ingest(registry, (cases[0][1], cases[0][2])) == ["ack"]
    assert len(refusals(registry)) == len(cases)


async def test_a_report_is_retried_while_the_directory_is_down(registry: Registry) -> None:
    registry.directory.down = True
    assert await ingest(registry, report("mx-sndif", GOOD)) == ["nak"]
    registry.directory.down = False
    assert stored(registry) == ({}, {})
    assert refusals(registry) == []
