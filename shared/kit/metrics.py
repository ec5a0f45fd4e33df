"""Prometheus metrics: one registry per application (several run in one test process),
the HTTP request middleware, the `GET /metrics` endpoint, and gauges read at scrape time.

Every label is a closed vocabulary (service, route template, method, status, message
type, outcome, reason code): never an id, a case reference or a name (docs/operations.md).
"""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.kit.errors import Unauthorized
from shared.kit.logging import get_logger
from shared.kit.problems import problem_responses

log = get_logger(__name__)

# No `_created` series beside each counter: a scrape shows what an operator reads.
disable_created_metrics()

UNMATCHED = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Seconds: from a cached lookup (a millisecond) to a request waiting out a busy database.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 35.0)

Refresh = Callable[[], Awaitable[None]]


class ServiceMetrics:
    """A service's metrics: its own registry, the HTTP ones, and what is read at scrape
    time (`on_scrape`)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "enlace_http_requests", "HTTP requests answered, by route template and status.",
            ["service", "route", "method", "status"], registry=self.registry)
        self.latency = Histogram(
            "enlace_http_request_duration_seconds",
            "Time from a request's arrival to the end of its answer, by route template.",
            ["service", "route", "method"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._refreshes: dict[str, Refresh] = {}

    def counter(self, name: str, documentation: str, labels: list[str]) -> Counter:
        return Counter(name, documentation, labels, registry=self.registry)

    def gauge(self, name: str, documentation: str, labels: list[str] | None = None) -> Gauge:
        return Gauge(name, documentation, labels or [], registry=self.registry)

    def on_scrape(self, part: str, refresh: Refresh) -> None:
        """Run `refresh` (it sets gauges) before each scrape; `part` names it in logs (and
        a later refresh of the same part replaces it: an application started again)."""
        self._refreshes[part] = refresh

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(self.service, route, method, str(status)),
                        self.latency.labels(self.service, route, method))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    async def exposition(self) -> bytes:
        for part, refresh in list(self._refreshes.items()):
            try:
                await refresh()
            except Exception as exc:  # a gauge left as it was beats no metrics at all
                log.warning("metrics_refresh_failed", part=part, error=type(exc).__name__)
        return generate_latest(self.registry)


def route_label(scope: Scope) -> str:
    """The template of the route that took the request (`/v1/referrals/{referral_id}`),
    never the path itself: a path holds ids."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED
    path = getattr(route, "path_format", None)
    if not isinstance(path, str):
        return UNMATCHED
    return f"{path}/{{path}}" if isinstance(route, Mount) else path


class RequestMetrics:
    """ASGI middleware: each HTTP request counted and timed by route template, method and
    status. Pure ASGI, and one dictionary lookup per request for the label children."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the caller gets when the application raises

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.metrics.observe(route_label(scope), method, status,
                                 time.perf_counter() - started)


def install_metrics(app: FastAPI, metrics: ServiceMetrics, token: str = "") -> None:
    """The middleware and `GET /metrics`: open like /readyz, or only with `token` as a
    bearer token when one is set (ENLACE_METRICS_TOKEN)."""
    app.state.metrics = metrics
    app.add_middleware(RequestMetrics, metrics=metrics)
    expected = f"Bearer {token}".encode() if token else b""

    @app.get("/metrics", tags=["operations"], operation_id="metrics_get",
             response_class=Response,
             responses={200: {"content": {CONTENT_TYPE_LATEST: {}},
                              "description": "Prometheus text exposition format"},
                        **problem_responses(401)})
    async def get_metrics(request: Request) -> Response:
        """Prometheus metrics of this service (no personal data): requests by route and
        status, messages, consumer lag, snapshot ages (docs/operations.md)."""
        if expected and not hmac.compare_digest(
                request.headers.get("authorization", "").encode(), expected):
            raise Unauthorized("The metrics token is missing or wrong.",
                               code="metrics_token_required")
        return Response(await metrics.exposition(), media_type=CONTENT_TYPE_LATEST)


def seconds_since(moment: float | None, now: float | None = None) -> float:
    """Seconds from `moment` (a Unix time) to now; NaN when there is none."""
    return (now or time.time()) - moment if moment else math.nan


async def consumer_pending(js: Any, stream: str, durable: str) -> tuple[float, float, float]:
    """A JetStream consumer's messages not yet delivered, delivered but not acknowledged,
    and being redelivered, as the server counts them now."""
    info = await js.consumer_info(stream, durable, timeout=2)
    return (float(info.num_pending or 0), float(info.num_ack_pending or 0),
            float(info.num_redelivered or 0))


class ConsumerGauges:
    """Lag gauges of a service's JetStream consumers, by a consumer label of ours."""

    def __init__(self, metrics: ServiceMetrics) -> None:
        self.pending = metrics.gauge(
            "enlace_consumer_pending_messages",
            "Messages in the stream the consumer has not been delivered yet (its lag).",
            ["consumer"])
        self.ack_pending = metrics.gauge(
            "enlace_consumer_ack_pending_messages",
            "Messages delivered to the consumer and not yet acknowledged.", ["consumer"])
        self.redelivered = metrics.gauge(
            "enlace_consumer_redelivered_messages",
            "Messages the server is redelivering to the consumer now.", ["consumer"])

    def watch(self, metrics: ServiceMetrics, consumer: str, js: Any, stream: str,
              durable: str) -> None:
        async def refresh() -> None:
            try:
                pending, ack_pending, redelivered = await consumer_pending(js, stream, durable)
            except Exception:
                pending = ack_pending = redelivered = math.nan
                raise
            finally:
                self.pending.labels(consumer).set(pending)
                self.ack_pending.labels(consumer).set(ack_pending)
                self.redelivered.labels(consumer).set(redelivered)

        metrics.on_scrape(f"consumer_{consumer}", refresh)
