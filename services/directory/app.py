"""Directory application."""

from __future__ import annotations

from fastapi import FastAPI

from services.directory.credentials import nats_issuer
from services.directory.endpoints import router
from services.directory.metrics import DirectoryMetrics
from shared.kit.db import database_is_reachable, make_engine
from shared.kit.http import create_service_app
from shared.kit.metrics import ServiceMetrics
from shared.protocol.envelope import load_or_create_private_key, service_key_path
from shared.protocol.settings import Settings

SERVICE = "directory"


def create_app(settings: Settings) -> FastAPI:
    async def readiness(app: FastAPI) -> dict[str, bool]:
        return {"database": database_is_reachable(app.state.engine)}

    metrics = DirectoryMetrics(ServiceMetrics(SERVICE))
    app = create_service_app(
        "Enlace directory", None, readiness,
        "Institutions, focal points and public keys of the CRM member countries' protection "
        "systems: search, 'who do I call' lookup, administration with history, and signed "
        "snapshots for gateways.",
        metrics=metrics.service, metrics_token=settings.metrics_token,
    )
    app.state.engine = make_engine(settings.database_url_for(SERVICE))
    app.state.directory_metrics = metrics
    metrics.watch(app.state.engine)
    app.state.snapshot_key = load_or_create_private_key(service_key_path(settings.data_dir))
    app.state.snapshot_ttl_seconds = settings.directory_snapshot_ttl_seconds
    app.state.nats_issuer = nats_issuer(settings)
    app.include_router(router)
    return app
