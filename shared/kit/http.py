"""The FastAPI application every service is built on: errors, correlation ids, health."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.kit.errors import install_problem_handlers, problem_body, problem_response
from shared.kit.limits import JsonDepthLimit
from shared.kit.logging import CORRELATION_HEADER, correlation, get_logger
from shared.kit.metrics import ServiceMetrics, install_metrics
from shared.kit.problems import problem_responses
from shared.web.docs import install_docs

ReadinessCheck = Callable[[FastAPI], Awaitable[dict[str, bool]]]

# How long one service waits for another's answer before taking it for unreachable (a 503):
# longer than a busy database's own lock wait (30 s), so a service that is slow under load
# is not mistaken for one that is down, which would refuse a caller who only had to wait.
SERVICE_CALL_TIMEOUT_SECONDS = 35.0

log = get_logger(__name__)


def operation_id(route: APIRoute) -> str:
    """The operation id of a route that sets none: its function's name, not FastAPI's
    `<name>_<path>_<method>`. Every route of ours sets `<thing>_<verb>` itself (e.g.
    `referrals_send`), the names a client generated from the OpenAPI gives its functions;
    tests/shared/test_openapi_conventions.py checks that."""
    return route.name


def create_service_app(
    title: str,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None,
    readiness: ReadinessCheck,
    description: str = "",
    metrics: ServiceMetrics | None = None,
    metrics_token: str = "",
) -> FastAPI:
    """The app with problem details, correlation ids, /healthz, /readyz and /metrics
    (`metrics` registered by the service, or its own of service "app")."""
    app = FastAPI(title=title, description=description, version="1", lifespan=lifespan,
                  docs_url=None, redoc_url=None, generate_unique_id_function=operation_id)
    install_docs(app)
    install_problem_handlers(app)
    app.add_middleware(JsonDepthLimit)
    app.add_middleware(Correlation)
    install_metrics(app, metrics or ServiceMetrics("app"), metrics_token)

    @app.get("/healthz", tags=["operations"], operation_id="health_live")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], response_model=None, operation_id="health_ready",
             responses=problem_responses(503))
    async def readyz() -> JSONResponse | dict[str, Any]:
        """Readiness: the database and, where used, NATS are reachable."""
        checks = await readiness(app)
        if all(checks.values()):
            return {"status": "ready", "checks": checks}
        body = problem_body(503, "not_ready", "Not ready", "A dependency is not reachable.",
                            checks=checks)
        return problem_response(body)

    return app


ResponseHeaders = Callable[[Scope, MutableHeaders], None]


def with_response_headers(send: Send, scope: Scope, add: ResponseHeaders) -> Send:
    """`send`, with `add(scope, headers)` applied to the response's headers as they leave.
    Pure ASGI, so a request pays no extra task or stream as with `@app.middleware("http")`."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            add(scope, MutableHeaders(scope=message))
        await send(message)

    return sending


class AddResponseHeaders:
    """ASGI middleware: every HTTP answer leaves with `add(scope, headers)` applied."""

    def __init__(self, app: ASGIApp, add: ResponseHeaders) -> None:
        self.app = app
        self.add = add

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, with_response_headers(send, scope, self.add))


class Correlation:
    """ASGI middleware: each request runs under a correlation id (the caller's, or a new
    one), answers with it in a header, and is logged once with its status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status: list[int] = []

        def add(_: Scope, headers: MutableHeaders) -> None:
            headers[CORRELATION_HEADER] = cid

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await answer(message)

        with correlation(Headers(scope=scope).get(CORRELATION_HEADER)) as cid:
            answer = with_response_headers(send, scope, add)
            await self.app(scope, receive, sending)
            # Paths never carry personal data, so they are safe to log.
            log.info("http_request", method=scope["method"], path=scope["path"],
                     status=status[0] if status else None)


def url_path(*segments: str | int) -> str:
    """An absolute URL path from its segments, each percent-encoded whole: a value taken from
    a request (an id) cannot add a segment, a query or a control character to the URL."""
    return "".join("/" + quote(str(s), safe="").replace(".", "%2E") for s in segments)


async def no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
