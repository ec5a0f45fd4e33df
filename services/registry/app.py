"""Registry application: HTTP API plus the audit and statistics consumers."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI

from services.registry.console.figure_pages import router as figure_console_router
from services.registry.console.pages import registry_kit
from services.registry.console.secretariat_pages import router as console_router
from services.registry.directory import Directory, DirectoryLookup
from services.registry.endpoints import router
from services.registry.figures.endpoints import router as figures_router
from services.registry.figures.ingest import StatisticsIngest
from services.registry.figures.service import regional_figures
from services.registry.introspection import TokenIntrospector
from services.registry.messaging import AUDIT_CONSUMER, AuditIngest, PolicyChangeNotices
from services.registry.metrics import RegistryMetrics
from shared.kit.db import database_is_reachable, make_engine
from shared.kit.http import create_service_app
from shared.kit.jetstream import durable_pull_subscription
from shared.kit.metrics import ServiceMetrics
from shared.protocol.envelope import load_or_create_private_key, service_key_path
from shared.protocol.nats_auth import REGISTRY_STATISTICS_CONSUMER, connect_as
from shared.protocol.settings import Settings
from shared.protocol.subjects import (
    AUDIT_STREAM,
    AUDIT_SUBJECTS,
    STATISTICS_STREAM,
    STATISTICS_SUBJECTS,
    ensure_streams,
)
from shared.web.figures import FunctionSource

SERVICE = "registry"


def create_app(settings: Settings, directory: Directory | None = None) -> FastAPI:
    engine = make_engine(settings.database_url_for(SERVICE))
    metrics = RegistryMetrics(ServiceMetrics(SERVICE))
    metrics.watch_audit_log(engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        nc = await connect_as(settings.nats_url, "enlace-registry", settings.nats_credentials,
                           settings.nats_inbox_prefix)
        js = nc.jetstream()
        await ensure_streams(js)
        subscription = await durable_pull_subscription(js, AUDIT_STREAM, AUDIT_CONSUMER,
                                                       AUDIT_SUBJECTS)
        statistics = await durable_pull_subscription(
            js, STATISTICS_STREAM, REGISTRY_STATISTICS_CONSUMER, STATISTICS_SUBJECTS)
        metrics.consumers.watch(metrics.service, "audit", js, AUDIT_STREAM, AUDIT_CONSUMER)
        metrics.consumers.watch(metrics.service, "statistics", js, STATISTICS_STREAM,
                                REGISTRY_STATISTICS_CONSUMER)
        stop = asyncio.Event()
        consumer = asyncio.create_task(
            AuditIngest(engine, app.state.directory, app.state.signing_key, metrics
                        ).run(subscription, stop))
        reports = asyncio.create_task(
            StatisticsIngest(engine, app.state.directory, metrics).run(statistics, stop))
        notices = asyncio.create_task(app.state.policy_notices.run(nc, stop))
        app.state.nats = nc
        try:
            yield
        finally:
            stop.set()
            for task in (consumer, reports, notices):
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            await nc.drain()

    async def readiness(app: FastAPI) -> dict[str, bool]:
        nc = getattr(app.state, "nats", None)
        return {"database": database_is_reachable(engine),
                "nats": bool(nc and nc.is_connected)}

    app = create_service_app(
        "Enlace registry", lifespan, readiness,
        "Inter-institutional agreements, consents, the policy decision, the audit log and "
        "the regional figures.",
        metrics=metrics.service, metrics_token=settings.metrics_token,
    )
    app.state.engine = engine
    app.state.directory = directory or DirectoryLookup(settings.directory_url,
                                                       settings.directory_token)
    app.state.figure_source = FunctionSource(
        functools.partial(regional_figures, directory=app.state.directory))
    # Gateway tokens issued by the directory (without a directory token: only local ones).
    app.state.introspector = TokenIntrospector(
        settings.directory_url, settings.directory_token,
        settings.token_introspection_cache_seconds) if settings.directory_token else None
    app.state.signing_key = load_or_create_private_key(service_key_path(settings.data_dir))
    app.state.snapshot_ttl_seconds = settings.policy_snapshot_ttl_seconds
    app.state.policy_notices = PolicyChangeNotices()
    app.include_router(router)
    app.include_router(figures_router)
    registry_kit(app.state.signing_key).mount(app)
    app.include_router(console_router)
    app.include_router(figure_console_router)
    return app
