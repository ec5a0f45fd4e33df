"""Each hosted institution's statistics report (shared/protocol/figures.py), built from its
cells, signed with its key and published on its country's statistics subject for the
registry (docs/protocol.md, "Statistics reports") in parts that each fit a NATS message:
when its cells changed, looked at every REPORT_CHECK_SECONDS, and again every
REPORT_RESEND_SECONDS even if nothing changed."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
import uuid
from datetime import UTC, datetime

from nats.js import JetStreamContext

from services.exchange.figures.aggregate import cells_of
from services.exchange.gateway import Gateway
from shared.kit.db import session_scope
from shared.kit.jetstream import headers_for
from shared.kit.logging import get_logger
from shared.protocol.figures import Cell, StatisticsReport, sign_report, split_report
from shared.protocol.subjects import SENDER_HEADER, TYPE_HEADER, statistics_subject

log = get_logger(__name__)

REPORT_CHECK_SECONDS = 30.0  # so a change reaches the registry within a minute
REPORT_RESEND_SECONDS = 3600.0
STATISTICS_TYPE = "statistics"


def ordered(cells: list[Cell]) -> list[Cell]:
    return sorted(cells, key=lambda c: (c.indicator.value,
                                        sorted((d.value, v) for d, v in c.dims.items())))


def build_report(gateway: Gateway, institution_id: str) -> StatisticsReport:
    with session_scope(gateway.engine) as session:
        cells = cells_of(session, [institution_id], gateway.country)
    return StatisticsReport(report_id=str(uuid.uuid4()), institution_id=institution_id,
                            country=gateway.country, computed_at=datetime.now(UTC),
                            cells=ordered(cells))


def part_id(part: StatisticsReport) -> str:
    """The message id of a part (JetStream's duplicate window is per message): the report's
    id alone for a report in one part."""
    return part.report_id if part.parts == 1 else f"{part.report_id}.{part.part}"


def fingerprint(report: StatisticsReport) -> str:
    cells = [c.model_dump(mode="json") for c in report.cells]
    return hashlib.sha256(json.dumps(cells, sort_keys=True).encode()).hexdigest()


class StatisticsReporter:
    def __init__(self, gateway: Gateway, js: JetStreamContext,
                 check_seconds: float = REPORT_CHECK_SECONDS,
                 keys_registered: asyncio.Event | None = None) -> None:
        self.gateway = gateway
        self.js = js
        self.check_seconds = check_seconds
        # Reports wait for the institutions' keys at the directory: one signed before would
        # be refused by the registry (unknown key, or not valid yet) and, unchanged, not be
        # sent again for an hour.
        self.keys_registered = keys_registered
        # Per institution: the fingerprint of its last report published, and when.
        self.published: dict[str, tuple[str, float]] = {}

    async def report_changes(self) -> int:
        """Publish the report of each institution whose cells changed; how many were sent."""
        if self.keys_registered is not None and not self.keys_registered.is_set():
            return 0
        sent = 0
        for institution_id in sorted(self.gateway.keys):
            report = await asyncio.to_thread(build_report, self.gateway, institution_id)
            seen = fingerprint(report)
            last = self.published.get(institution_id)
            if last and last[0] == seen and time.monotonic() - last[1] < REPORT_RESEND_SECONDS:
                continue
            for part in split_report(report):
                token = sign_report(part, self.gateway.keys[institution_id])
                await self.js.publish(
                    statistics_subject(self.gateway.country), token.encode(),
                    headers=headers_for(part_id(part), None, **{
                        TYPE_HEADER: STATISTICS_TYPE, SENDER_HEADER: institution_id}))
            self.published[institution_id] = (seen, time.monotonic())
            log.info("statistics_reported", institution_id=institution_id,
                     cells=len(report.cells), parts=part.parts)
            sent += 1
        return sent

    async def run(self, stop: asyncio.Event) -> None:
        if self.keys_registered is not None:  # the first look as soon as they are
            waits = [asyncio.ensure_future(e.wait()) for e in (self.keys_registered, stop)]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for waiting in waits:
                waiting.cancel()
        while not stop.is_set():
            try:
                await self.report_changes()
            except Exception as exc:
                log.warning("statistics_report_failed", error=type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.check_seconds)
