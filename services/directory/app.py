"""Directory application."""

from __future__ import annotations

from fastapi import FastAPI

from services.directory.credentials import nats_issuer
from services.directory.endpoints import router
from shared.kit.db import database_is_reachable, make_engine
from shared.kit.http import create_service_app
from shared.protocol.envelope import load_or_create_private_key, service_key_path
from shared.protocol.settings import Settings

SERVICE = "directory"


def create_app(settings: Settings) -> FastAPI:
    async def readiness(app: FastAPI) -> dict[str, bool]:
        return {"database": database_is_reachable(app.state.engine)}

    app = create_service_app(
        "Enlace directory", None, readiness,
        "Institutions, focal points and public keys of the CRM member countries' protection "
        "systems: search, 'who do I call' lookup, administration with history, and signed "
        "snapshots for gateways.",
    )
    app.state.engine = make_engine(settings.database_url_for(SERVICE))
    app.state.snapshot_key = load_or_create_private_key(service_key_path(settings.data_dir))
    app.state.snapshot_ttl_seconds = settings.directory_snapshot_ttl_seconds
    app.state.nats_issuer = nats_issuer(settings)
    app.include_router(router)
    return app
