"""The statistics consumer: the gateways' reports from STATISTICS_STREAM, a batch at a
time. Each report is verified (verification.py); in one transaction per batch the good ones
replace their institution's cells (unless a newer report is in force: then it is ignored)
and the refused ones are recorded with their reason; the batch is acknowledged after it
commits, so a refused report is never retried. A report in several parts is kept part by
part and replaces the institution's cells when its last part is taken (store.py). A
report whose institution cannot be looked up because the directory is down is redelivered
later."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from sqlalchemy import Engine

from services.registry.audit_verification import subject_country
from services.registry.directory import Directory
from services.registry.figures.store import StatisticsRepository
from services.registry.figures.verification import ReportRefused, refusal_row, verified_report
from services.registry.metrics import RegistryMetrics
from services.registry.signing_keys import SigningKeyCache, verify_each
from shared.kit.db import session_scope, utcnow
from shared.kit.jetstream import fetch_batches
from shared.kit.logging import get_logger
from shared.protocol.figures import StatisticsReport

BATCH_SIZE = 20  # reports are large (a whole institution's cells each)
DIRECTORY_RETRY_SECONDS = 15
PENDING_PART_HOURS = 24  # a report's parts wait this long for the rest of it

log = get_logger(__name__)

Checked = StatisticsReport | ReportRefused | None


class StatisticsIngest:
    def __init__(self, engine: Engine, directory: Directory,
                 metrics: RegistryMetrics | None = None) -> None:
        self.engine = engine
        self.directory = directory
        self.metrics = metrics
        self.keys = SigningKeyCache(directory)

    async def run(self, subscription: JetStreamContext.PullSubscription,
                  stop: asyncio.Event) -> None:
        await fetch_batches(subscription, self.handle_batch, BATCH_SIZE, stop)

    async def handle_batch(self, messages: list[Msg]) -> None:
        checked = await asyncio.to_thread(self._check, messages)
        settled = [(msg, result) for msg, result in checked if result is not None]
        later = [msg for msg, result in checked if result is None]
        try:
            taken, refusals = await asyncio.to_thread(self._store, settled)
        except Exception:
            log.exception("statistics_batch_failed", size=len(settled))
            for msg, _ in settled:
                await msg.nak(delay=2)
            taken = 0
        else:
            for msg, _ in settled:
                await msg.ack()
            if self.metrics is not None:
                self.metrics.reports_taken.inc(taken)
                for code in refusals:
                    self.metrics.reports_refused.labels(code).inc()
        for msg in later:
            await msg.nak(delay=DIRECTORY_RETRY_SECONDS)
        for msg, result in settled:
            if isinstance(result, ReportRefused):
                log.warning("statistics_report_refused", reason=result.code,
                            country=subject_country(msg.subject), size=len(msg.data))
        if checked:
            log.info("statistics_reports", received=len(checked), taken=taken,
                     retried=len(later))

    def _check(self, messages: list[Msg]) -> list[tuple[Msg, Checked]]:
        keys = self.keys.batch()
        return verify_each(
            messages, lambda msg: verified_report(msg.data, msg.subject, self.directory, keys),
            ReportRefused, lambda: ReportRefused("unverifiable"), "statistics_report")

    def _store(self, settled: list[tuple[Msg, StatisticsReport | ReportRefused]]
               ) -> tuple[int, list[str]]:
        """One transaction; how many reports were taken in force (older ones are not; nor
        is a report in parts before its last part), and the codes of those refused."""
        reports = sorted(((msg, r) for msg, r in settled if isinstance(r, StatisticsReport)),
                         key=lambda pair: (pair[1].computed_at, pair[1].part))
        refused = [(msg, r.code) for msg, r in settled if isinstance(r, ReportRefused)]
        taken = 0
        with session_scope(self.engine) as session:
            repo = StatisticsRepository(session)
            repo.forget_stale_parts(utcnow() - timedelta(hours=PENDING_PART_HOURS))
            for msg, report in reports:
                outcome = (repo.replace_report(report) if report.parts == 1
                           else repo.take_part(report))
                if isinstance(outcome, str):
                    refused.append((msg, outcome))
                    log.warning("statistics_report_refused", reason=outcome,
                                country=subject_country(msg.subject), size=len(msg.data))
                else:
                    taken += outcome
            repo.refuse([refusal_row(msg.data, msg.subject, code) for msg, code in refused])
        return taken, [code for _, code in refused]
