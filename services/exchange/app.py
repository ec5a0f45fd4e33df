"""Gateway application, its composition root: REST API, console, outbox publisher, inbound
consumer, scheduled jobs, key registration."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI

from services.exchange.agreements.endpoints import router as agreement_router
from services.exchange.alerts.endpoints import router as alert_router
from services.exchange.alerts.jobs import escalate_forever
from services.exchange.clients.directory import DirectoryClient
from services.exchange.clients.registry import PolicyRefresher, RegistryClient
from services.exchange.console.admin_pages import router as console_admin_router
from services.exchange.console.agreement_pages import router as console_agreement_router
from services.exchange.console.alert_pages import router as alert_console_router
from services.exchange.console.directory_admin_pages import router as directory_admin_router
from services.exchange.console.figure_pages import router as figure_console_router
from services.exchange.console.lookup_pages import router as lookup_router
from services.exchange.console.pages import gateway_kit
from services.exchange.console.pages import router as console_router
from services.exchange.figures.endpoints import router as figures_router
from services.exchange.figures.report import StatisticsReporter
from services.exchange.figures.service import own_figures
from services.exchange.gateway import Gateway, refresh_directory_forever
from services.exchange.keys import load_encryption_keys, load_signing_keys
from services.exchange.metrics import ExchangeMetrics
from services.exchange.referrals.endpoints import router as referral_router
from services.exchange.transport.arrivals import InboundLimits
from services.exchange.transport.consumer import ConsumerHealth, InboundConsumer
from services.exchange.transport.dispatcher import InboundDispatcher
from services.exchange.transport.endpoints import router as quarantine_router
from services.exchange.transport.local import LocalDelivery
from services.exchange.transport.outbox import OutboxPublisher
from services.exchange.transport.repository import OutboxRepository
from services.exchange.webhooks.dispatcher import WebhookDispatcher
from services.exchange.webhooks.endpoints import router as webhook_router
from shared.kit.db import database_is_reachable, make_engine, session_scope
from shared.kit.http import create_service_app
from shared.kit.jetstream import (
    MAX_BACKOFF_SECONDS,
    bind_durable_consumer,
    close,
    consume_in_batches,
)
from shared.kit.logging import get_logger
from shared.kit.metrics import ServiceMetrics
from shared.protocol.envelope import public_jwk
from shared.protocol.nats_auth import connect_as
from shared.protocol.sealing import encryption_jwk
from shared.protocol.settings import Settings
from shared.protocol.subjects import (
    MESSAGES_STREAM,
    POLICY_CHANGES_SUBJECT,
    country_messages_filter,
)
from shared.web.figures import FunctionSource

SERVICE = "exchange"

log = get_logger(__name__)


def build_gateway(settings: Settings) -> Gateway:
    if not settings.gateway_country or not settings.gateway_tokens:
        raise SystemExit("A gateway needs ENLACE_GATEWAY_COUNTRY and ENLACE_GATEWAY_TOKENS.")
    hosted = sorted(settings.gateway_tokens)
    directory = DirectoryClient(
        settings.directory_url, settings.gateway_tokens,
        public_key=settings.directory_public_key,
        cache_path=settings.data_dir / "directory-snapshot.json",
        refresh_seconds=settings.directory_refresh_seconds,
    )
    return Gateway(
        country=settings.gateway_country,
        engine=make_engine(settings.database_url_for(SERVICE)),
        keys=load_signing_keys(settings.data_dir, hosted),
        encryption_keys=load_encryption_keys(settings.data_dir, hosted),
        directory=directory,
        registry=RegistryClient.for_gateway(settings, directory),
        message_ttl_seconds=settings.message_ttl_seconds,
        metrics=ExchangeMetrics(ServiceMetrics(SERVICE)),
    )


def watch_gateway(gateway: Gateway) -> None:
    """The gauges read at each scrape: the outbox's backlog and the snapshots' age."""
    metrics = gateway.metrics

    def count_pending() -> int:
        with session_scope(gateway.engine) as session:
            return OutboxRepository(session).pending_outbox_count()

    async def outbox() -> None:
        metrics.outbox_pending.set(await asyncio.to_thread(count_pending))

    async def snapshots() -> None:
        metrics.directory_snapshot(gateway.directory.snapshot_times())
        metrics.policy_snapshots(gateway.registry.snapshot_times())

    metrics.service.on_scrape("outbox", outbox)
    metrics.service.on_scrape("snapshots", snapshots)


async def register_keys(gateway: Gateway, registered: asyncio.Event) -> None:
    """Publish the public halves (signing, encryption) with the directory; retry until done."""
    pending = set(gateway.keys)
    while pending:
        for institution_id in sorted(pending):
            try:
                await asyncio.to_thread(gateway.directory.register_signing_key, institution_id,
                                        public_jwk(gateway.keys[institution_id]))
                await asyncio.to_thread(
                    gateway.directory.register_encryption_key, institution_id,
                    encryption_jwk(gateway.encryption_keys[institution_id]))
                pending.discard(institution_id)
                log.info("keys_registered", institution_id=institution_id)
            except Exception as exc:
                log.warning("key_registration_failed", institution_id=institution_id,
                            error=str(exc))
        if pending:
            await asyncio.sleep(1)
    registered.set()


def backstop_max_deliver(settings: Settings) -> int:
    """The consumer's own limit, in case the gateway failed to settle a message: above
    every delivery the gateway makes itself (its retries, then transient retries spaced
    by the longest backoff until the message is too old)."""
    return (settings.inbound_max_deliveries
            + int(settings.inbound_retry_seconds // MAX_BACKOFF_SECONDS) + 10)


def create_app(settings: Settings) -> FastAPI:
    gateway = build_gateway(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Policy decided here from the registry's snapshots: fetched now, again on each
        # change notice (and after a NATS reconnection, which may have missed some), and
        # every ENLACE_POLICY_SNAPSHOT_REFRESH_SECONDS.
        policy = PolicyRefresher(gateway.registry, gateway.keys)
        nc = await connect_as(settings.nats_url, f"enlace-gateway-{gateway.country}",
                           settings.nats_credentials, settings.nats_inbox_prefix,
                           on_reconnect=policy.reconnected)
        js = nc.jetstream()
        limits = InboundLimits.of(settings)
        publisher = OutboxPublisher(
            gateway.engine, js, LocalDelivery(gateway, InboundDispatcher(gateway, limits).process),
            gateway.metrics)
        durable = f"gateway-{gateway.country}"
        subscription = await bind_durable_consumer(
            js, MESSAGES_STREAM, durable, country_messages_filter(gateway.country),
            max_deliver=backstop_max_deliver(settings),
            max_ack_pending=settings.inbound_max_ack_pending,
        )
        gateway.metrics.consumers.watch(gateway.metrics.service, "gateway", js,
                                        MESSAGES_STREAM, durable)
        stop = asyncio.Event()
        await nc.subscribe(POLICY_CHANGES_SUBJECT, cb=policy.notice)
        keys_registered = asyncio.Event()
        consumer = InboundConsumer(gateway, publisher, limits)
        consuming = asyncio.create_task(
            consume_in_batches(subscription, consumer.handle_batch, stop=stop))
        tasks = [
            asyncio.create_task(publisher.run(stop)),
            asyncio.create_task(policy.run(stop)),
            consuming,
            asyncio.create_task(register_keys(gateway, keys_registered)),
            asyncio.create_task(refresh_directory_forever(gateway, stop)),
            asyncio.create_task(WebhookDispatcher(gateway.engine).run(stop)),
            asyncio.create_task(escalate_forever(gateway, settings.alert_ack_timeout_seconds,
                                                 stop)),
            asyncio.create_task(StatisticsReporter(gateway, js,
                                                   keys_registered=keys_registered).run(stop)),
        ]
        app.state.nats = nc
        app.state.consuming = consuming
        app.state.consumer_health = ConsumerHealth(js, MESSAGES_STREAM, durable, consumer,
                                                   settings.inbound_stuck_seconds)
        app.state.publisher = publisher
        app.state.policy = policy
        app.state.keys_registered = keys_registered
        try:
            yield
        finally:
            stop.set()
            for task in tasks:
                task.cancel()
            for task in tasks:
                with suppress(asyncio.CancelledError):
                    await task
            await close(nc)
            gateway.directory.close()
            gateway.registry.close()

    async def readiness(app: FastAPI) -> dict[str, bool]:
        nc = getattr(app.state, "nats", None)
        registered = getattr(app.state, "keys_registered", None)
        consuming = getattr(app.state, "consuming", None)
        health = getattr(app.state, "consumer_health", None)
        return {
            "database": database_is_reachable(gateway.engine),
            "nats": bool(nc and nc.is_connected),
            "keys_registered": bool(registered and registered.is_set()),
            "inbound_consumer": bool(consuming and not consuming.done() and health
                                     and nc and nc.is_connected and await health.flowing()),
        }

    app = create_service_app(
        f"Enlace gateway ({gateway.country})", lifespan, readiness,
        "Send and receive referrals of migrant children between countries.",
        metrics=gateway.metrics.service, metrics_token=settings.metrics_token,
    )
    watch_gateway(gateway)
    app.state.engine = gateway.engine
    app.state.gateway = gateway
    app.state.figure_source = FunctionSource(own_figures)
    # In this order, the order of the API's paths in its OpenAPI document.
    app.include_router(referral_router)
    app.include_router(quarantine_router)
    app.include_router(alert_router)
    app.include_router(webhook_router)
    app.include_router(agreement_router)
    app.include_router(figures_router)
    gateway_kit(gateway).mount(app)
    app.include_router(console_router)
    app.include_router(alert_console_router)
    app.include_router(directory_admin_router)
    app.include_router(lookup_router)
    app.include_router(console_agreement_router)
    app.include_router(console_admin_router)
    app.include_router(figure_console_router)
    return app
