"""What an operator watches of the registry, besides its requests: the audit log's size and
ingest lag, the audit events and statistics reports taken or refused (docs/operations.md).
Reasons are the stable codes of AuditRejected and ReportRefused."""

from __future__ import annotations

import asyncio
import math
import time

from sqlalchemy import Engine
from sqlmodel import col, select

from services.registry.models import AuditEntry
from services.registry.repository import RegistryRepository
from shared.kit.db import session_scope
from shared.kit.metrics import ConsumerGauges, ServiceMetrics


class RegistryMetrics:
    def __init__(self, metrics: ServiceMetrics | None = None) -> None:
        self.service = metrics or ServiceMetrics("registry")
        m = self.service
        self.audit_stored = m.counter(
            "enlace_audit_events_stored", "Audit events written to the log (not duplicates).",
            [])
        self.audit_quarantined = m.counter(
            "enlace_audit_events_quarantined", "Audit events refused, by reason code.",
            ["reason"])
        self.reports_taken = m.counter(
            "enlace_statistics_reports_taken",
            "Statistics reports taken in force (a report in parts: when its last part is).",
            [])
        self.reports_refused = m.counter(
            "enlace_statistics_reports_refused", "Statistics reports refused, by reason code.",
            ["reason"])
        self.audit_entries = m.gauge("enlace_audit_log_entries",
                                     "Entries in the audit log (its Merkle tree's size).")
        self.ingest_lag = m.gauge(
            "enlace_audit_ingest_lag_seconds",
            "For the newest entry of the log: seconds from its event to its recording.")
        self.newest_age = m.gauge(
            "enlace_audit_newest_entry_age_seconds",
            "Seconds since the event of the newest entry of the log happened.")
        self.consumers = ConsumerGauges(m)

    def watch_audit_log(self, engine: Engine) -> None:
        def read() -> tuple[int, float, float]:
            with session_scope(engine) as session:
                size = RegistryRepository(session).tree_size()
                newest = session.exec(
                    select(AuditEntry.occurred_at, AuditEntry.recorded_at)
                    .order_by(col(AuditEntry.seq).desc()).limit(1)).first()
            if newest is None:
                return size, math.nan, math.nan
            occurred, recorded = newest
            return size, occurred.timestamp(), recorded.timestamp()

        async def refresh() -> None:
            size, occurred, recorded = await asyncio.to_thread(read)
            self.audit_entries.set(size)
            self.ingest_lag.set(recorded - occurred)
            self.newest_age.set(time.time() - occurred)

        self.service.on_scrape("audit_log", refresh)
