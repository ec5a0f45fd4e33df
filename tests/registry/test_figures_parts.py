"""A statistics report larger than a NATS message goes in parts (issue 11): each part is
signed and under 1 MB; the registry takes the report in only when all its parts have
arrived, with the same figures as the report in one message; a part missing leaves the
report in force as it was, and an older report's parts never replace a newer report."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from benchmarks.regional_figures_bench import cells_of
from services.registry.figures.ingest import PENDING_PART_HOURS
from services.registry.figures.models import StatisticsPartCellRow, StatisticsPartRow
from services.registry.figures.store import CELL_COLUMNS, CELL_TABLE
from shared.kit.db import session_scope
from shared.protocol.figures import StatisticsReport, split_report
from shared.protocol.subjects import statistics_subject
from tests.registry.conftest import NOW, Registry
from tests.registry.figures_helpers import ingest, referral, report, signed
from tests.registry.test_audit_api import FakeMsg
from tests.registry.test_figures_api import table
from tests.registry.test_figures_ingest import refusals, stored

NATS_MAX_PAYLOAD = 1024 * 1024  # deploy/nats: max_payload 1MB
MONTHS = [f"2026-{m:02d}" for m in range(1, 13)]


def full_year(computed_at_hours_ago: float) -> StatisticsReport:
    """A year of mx-sndif's figures with every breakdown: about 1.9 MB signed."""
    return report("mx-sndif", cells_of("MX", MONTHS, random.Random(11)),
                  computed_at=NOW - timedelta(hours=computed_at_hours_ago))


def messages(registry: Registry, parts: list[StatisticsReport]) -> list[tuple[bytes, str]]:
    return [(signed(registry, p), statistics_subject(p.country)) for p in parts]


def cell_rows(registry: Registry) -> list[tuple[Any, ...]]:
    with session_scope(registry.engine) as session:
        columns = [CELL_TABLE.c[c] for c in CELL_COLUMNS]
        return sorted(tuple(r) for r in session.execute(select(*columns)))


def pending(registry: Registry) -> int:
    with session_scope(registry.engine) as session:
        return len(list(session.execute(select(StatisticsPartRow.part))))


def figures(registry: Registry) -> list[dict[str, Any]]:
    """Three of the region's tables, but for when the report was computed."""
    tables = [table(registry, indicator="referrals"),
              table(registry, indicator="referrals", by="age_band"),
              table(registry, indicator="referral-time-to-accepted")]
    return [{k: v for k, v in t.items() if k != "computed_at"} for t in tables]


async def test_a_report_over_the_limit_goes_in_parts_with_the_same_figures(
        registry: Registry) -> None:
    whole = full_year(3)
    assert len(signed(registry, whole)) > NATS_MAX_PAYLOAD
    assert await ingest(registry, whole) == ["ack"]  # in one message (no NATS limit here)
    single_rows, single_figures = cell_rows(registry), figures(registry)
    assert len(single_rows) == len(whole.cells)

    again = whole.model_copy(update={"computed_at": NOW - timedelta(hours=2),
                                     "report_id": report("mx-sndif", []).report_id})
    parts = split_report(again)
    sizes = [len(data) for data, _ in messages(registry, parts)]
    assert len(parts) >= 2
    assert all(size < 0.7 * NATS_MAX_PAYLOAD for size in sizes), sizes
    assert [(p.part, p.parts, p.report_id) for p in parts] == [
        (n, len(parts), again.report_id) for n in range(1, len(parts) + 1)]
    assert sum(len(p.cells) for p in parts) == len(whole.cells)
    assert await ingest(registry, *messages(registry, parts)[::-1]) == ["ack"] * len(parts)
    assert stored(registry)[0] == {"mx-sndif": again.report_id}
    assert cell_rows(registry) == single_rows
    assert figures(registry) == single_figures
    assert pending(registry) == 0
    assert refusals(registry) == []


async def test_a_missing_part_leaves_the_report_in_force(registry: Registry) -> None:
    in_force = report("mx-sndif", [referral("MX", "HN", "2026-10", 12)],
                      computed_at=NOW - timedelta(hours=3))
    assert await ingest(registry, in_force) == ["ack"]
    parts = split_report(full_year(2))
    sent = messages(registry, parts)
    assert await ingest(registry, *sent[:-1]) == ["ack"] * (len(parts) - 1)
    assert stored(registry) == ({"mx-sndif": in_force.report_id}, {"mx-sndif": 12})
    assert pending(registry) == len(parts) - 1
    assert await ingest(registry, sent[0]) == ["ack"]  # a part again changes nothing
    assert stored(registry)[0] == {"mx-sndif": in_force.report_id}
    assert await ingest(registry, sent[-1]) == ["ack"]  # the last part: the report is whole
    total = sum(c.count for c in full_year(2).cells)
    assert stored(registry) == ({"mx-sndif": parts[0].report_id}, {"mx-sndif": total})
    assert pending(registry) == 0
    assert refusals(registry) == []


async def test_an_older_reports_parts_do_not_replace_a_newer_report(
        registry: Registry) -> None:
    older = split_report(full_year(3))
    newer = report("mx-sndif", [referral("MX", "HN", "2026-10", 40)],
                   computed_at=NOW - timedelta(hours=1))
    # The older report's first parts arrive, then the newer report, then the rest.
    assert await ingest(registry, *messages(registry, older[:1])) == ["ack"]
    assert await ingest(registry, newer) == ["ack"]
    assert pending(registry) == 0  # the older report's parts are dropped once superseded
    assert await ingest(registry, *messages(registry, older)) == ["ack"] * len(older)
    assert stored(registry) == ({"mx-sndif": newer.report_id}, {"mx-sndif": 40})
    assert pending(registry) == 0
    # A newer report in parts replaces it; the older one's parts again change nothing.
    newest = report("mx-sndif", [referral("MX", c, "2026-11", 2)
                                 for c in ("GT", "SV", "NI", "CR")], computed_at=NOW)
    newest_parts = split_report(newest, max_cells_bytes=200)
    assert len(newest_parts) == 4
    assert await ingest(registry, *messages(registry, newest_parts)) == ["ack"] * 4
    assert await ingest(registry, *messages(registry, older)) == ["ack"] * len(older)
    assert stored(registry) == ({"mx-sndif": newest.report_id}, {"mx-sndif": 8})
    assert refusals(registry) == []


async def test_parts_that_disagree_or_repeat_a_cell_are_refused(registry: Registry) -> None:
    in_force = report("mx-sndif", [referral("MX", "HN", "2026-10", 12)],
                      computed_at=NOW - timedelta(hours=3))
    assert await ingest(registry, in_force) == ["ack"]
    cells = [referral("MX", c, "2026-11", 2) for c in ("GT", "SV")]
    twice = report("mx-sndif", [*cells, cells[0]], computed_at=NOW - timedelta(hours=2))
    assert await ingest(registry, *messages(registry, split_report(
        twice, max_cells_bytes=1))) == ["ack"] * 3
    unlike = split_report(report("mx-sndif", cells, computed_at=NOW - timedelta(hours=1)),
                          max_cells_bytes=1)
    moved = unlike[1].model_copy(update={"computed_at": NOW - timedelta(minutes=30)})
    assert await ingest(registry, *messages(registry, [unlike[0], moved])) == ["ack"] * 2
    assert [r[0] for r in refusals(registry)] == ["duplicate_cell", "inconsistent_parts"]
    assert stored(registry) == ({"mx-sndif": in_force.report_id}, {"mx-sndif": 12})


async def test_each_part_is_checked_as_a_report(registry: Registry) -> None:
    parts = split_report(report("mx-sndif", [referral("MX", c, "2026-11", 2)
                                             for c in ("GT", "SV")]), max_cells_bytes=1)
    forged = signed(registry, parts[1], registry.directory.keys["mx-pfpnna"])
    msgs = [FakeMsg(signed(registry, parts[0]), "enlace.stats.MX"),
            FakeMsg(forged, "enlace.stats.MX")]
    assert await ingest(registry, *[(m.data, m.subject) for m in msgs]) == ["ack", "ack"]
    assert [r[0] for r in refusals(registry)] == ["unknown_key"]
    assert stored(registry) == ({}, {})
    assert pending(registry) == 1


async def test_parts_of_a_report_that_never_completes_are_dropped_after_a_day(
        registry: Registry) -> None:
    parts = split_report(report("mx-sndif", [referral("MX", c, "2026-11", 2)
                                             for c in ("GT", "SV")]), max_cells_bytes=1)
    assert await ingest(registry, *messages(registry, parts[:1])) == ["ack"]
    with session_scope(registry.engine) as session:
        session.execute(update(StatisticsPartRow).values(
            received_at=NOW - timedelta(hours=PENDING_PART_HOURS, minutes=1)))
    other = report("mx-pfpnna", [referral("MX", "HN", "2026-10", 9)])
    assert await ingest(registry, other) == ["ack"]  # any batch drops the stale parts
    assert pending(registry) == 0
    with session_scope(registry.engine) as session:
        assert list(session.execute(select(StatisticsPartCellRow.id))) == []
    assert await ingest(registry, *messages(registry, parts[1:])) == ["ack"]
    assert stored(registry)[0] == {"mx-pfpnna": other.report_id}  # mx-sndif's never whole
