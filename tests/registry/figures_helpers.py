"""Statistics reports as a gateway signs and publishes them, for the registry's tests."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from joserfc.jwk import OKPKey

from services.registry.figures.ingest import StatisticsIngest
from shared.protocol.figures import Cell, Dimension, Indicator, StatisticsReport, sign_report
from shared.protocol.subjects import statistics_subject
from tests.registry.conftest import INSTITUTIONS, NOW, Registry
from tests.registry.test_audit_api import FakeMsg

D = Dimension


def referral(origin: str, destination: str, month: str, count: int,
             **breakdown: str) -> Cell:
    dims = {D.origin: origin, D.destination: destination, D.month: month}
    dims.update({D(k): v for k, v in breakdown.items()})
    return Cell(indicator=Indicator.referrals, dims=dims, count=count)


def report(institution: str, cells: list[Cell], computed_at: datetime | None = None,
           country: str | None = None) -> StatisticsReport:
    return StatisticsReport(report_id=str(uuid.uuid4()), institution_id=institution,
                            country=country or INSTITUTIONS[institution],
                            computed_at=computed_at or NOW - timedelta(minutes=1), cells=cells)


def signed(registry: Registry, body: StatisticsReport, key: OKPKey | None = None) -> bytes:
    return sign_report(body, key or registry.directory.keys[body.institution_id]).encode()


async def ingest(registry: Registry, *reports: StatisticsReport | tuple[bytes, str]
                 ) -> list[str]:
    """Each report (or bytes on a subject) as one message of a batch; how each was settled."""
    messages = [FakeMsg(*r) if isinstance(r, tuple)
                else FakeMsg(signed(registry, r), statistics_subject(r.country))
                for r in reports]
    await StatisticsIngest(registry.engine, registry.directory).handle_batch(
        messages)  # type: ignore[arg-type]
    return [m.outcome for m in messages]
