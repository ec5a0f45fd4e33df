"""Directory application."""

from __future__ import annotations

from fastapi import FastAPI

from services.directory.endpoints import router
from shared.db import database_is_reachable, make_engine
from shared.http import create_service_app
from shared.settings import Settings

SERVICE = "directory"


def create_app(settings: Settings) -> FastAPI:
    async def readiness(app: FastAPI) -> dict[str, bool]:
        return {"database": database_is_reachable(app.state.engine)}

    app = create_service_app(
        "Enlace directory", None, readiness,
        "Institutions of the CRM member countries' protection systems and their public keys.",
    )
    app.state.engine = make_engine(settings.database_url_for(SERVICE))
    app.include_router(router)
    return app
