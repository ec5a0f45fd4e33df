"""The application every service is built on: correlation ids on answers and in the log."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from shared.kit.errors import NotFound
from shared.kit.http import create_service_app, no_lifespan
from shared.kit.logging import CORRELATION_HEADER


async def ready(_: FastAPI) -> dict[str, bool]:
    return {"database": True}


def service() -> FastAPI:
    app = create_service_app("test", no_lifespan, ready)

    @app.get("/things/{thing}")
    async def thing(thing: str) -> dict[str, str]:
        if thing == "missing":
            raise NotFound("No such thing.")
        return {"thing": thing}

    return app


async def call(path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    transport = httpx.ASGITransport(app=service())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path, headers=headers)


@pytest.mark.asyncio
async def test_an_answer_carries_the_callers_correlation_id_and_is_logged_with_it() -> None:
    with capture_logs(processors=[merge_contextvars]) as logs:
        answer = await call("/things/a", {CORRELATION_HEADER: "c0ffee"})
    assert answer.status_code == 200
    assert answer.headers[CORRELATION_HEADER] == "c0ffee"
    requests = [e for e in logs if e["event"] == "http_request"]
    assert requests == [{"event": "http_request", "method": "GET", "path": "/things/a",
                         "status": 200, "log_level": "info", "correlation_id": "c0ffee"}]


@pytest.mark.asyncio
async def test_without_one_each_request_gets_its_own_and_a_problem_carries_it_too() -> None:
    first, second = await call("/things/missing"), await call("/things/missing")
    assert first.status_code == second.status_code == 404
    assert first.headers["content-type"] == "application/problem+json"
    ids = {first.headers[CORRELATION_HEADER], second.headers[CORRELATION_HEADER]}
    assert len(ids) == 2 and all(len(i) == 32 for i in ids)
