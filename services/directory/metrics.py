"""What an operator watches of the directory, besides its requests: the version gateways
are brought to, how old it is, and the snapshots served (docs/operations.md)."""

from __future__ import annotations

import asyncio
import math
import time

from sqlalchemy import Engine
from sqlmodel import col, select

from services.directory.models import Change, DirectoryState
from shared.kit.db import session_scope
from shared.kit.metrics import ServiceMetrics


class DirectoryMetrics:
    def __init__(self, metrics: ServiceMetrics | None = None) -> None:
        self.service = metrics or ServiceMetrics("directory")
        m = self.service
        self.version = m.gauge("enlace_directory_version",
                               "The directory's version: the one a snapshot now carries.")
        self.age = m.gauge("enlace_directory_version_age_seconds",
                           "Seconds since the directory last changed (its newest version).")
        self.snapshots = m.counter("enlace_directory_snapshots_served",
                                   "Signed snapshots served, full or delta.", ["kind"])

    def watch(self, engine: Engine) -> None:
        def read() -> tuple[int, float]:
            with session_scope(engine) as session:
                version = session.exec(select(DirectoryState.version)).first()
                changed = session.exec(select(Change.at).order_by(col(Change.seq).desc())
                                       .limit(1)).first()
            return int(version or 0), changed.timestamp() if changed else math.nan

        async def refresh() -> None:
            version, changed = await asyncio.to_thread(read)
            self.version.set(version)
            self.age.set(time.time() - changed)

        self.service.on_scrape("directory", refresh)
