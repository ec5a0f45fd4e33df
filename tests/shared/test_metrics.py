"""The request metrics every service has: counted by route template and status, timed in a
histogram, exposed at /metrics (open, or behind ENLACE_METRICS_TOKEN)."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from shared.kit.errors import NotFound
from shared.kit.http import create_service_app, no_lifespan
from shared.kit.metrics import ServiceMetrics


async def ready(_: FastAPI) -> dict[str, bool]:
    return {"database": True}


def service(token: str = "") -> FastAPI:
    app = create_service_app("test", no_lifespan, ready, metrics=ServiceMetrics("tiny"),
                             metrics_token=token)

    @app.get("/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        if thing_id == "missing":
            raise NotFound("No such thing.")
        return {"thing": thing_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    return app


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def labels(**values: str) -> frozenset[tuple[str, str]]:
    return frozenset({"service": "tiny", **values}.items())


async def test_requests_are_counted_and_timed_by_route_template_and_status() -> None:
    app = service()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for thing_id in ("a-secret-id", "another-id", "missing"):
            await client.get(f"/things/{thing_id}")
        await client.post("/things/x")
        await client.get("/nowhere/at/all")
        await client.get("/boom")
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    found = samples(response.text)
    route = "/things/{thing_id}"
    assert found[("enlace_http_requests_total",
                  labels(route=route, method="GET", status="200"))] == 2
    assert found[("enlace_http_requests_total",
                  labels(route=route, method="GET", status="404"))] == 1
    assert found[("enlace_http_requests_total",
                  labels(route=route, method="POST", status="405"))] == 1
    assert found[("enlace_http_requests_total",
                  labels(route="unmatched", method="GET", status="404"))] == 1
    assert found[("enlace_http_requests_total",
                  labels(route="/boom", method="GET", status="500"))] == 1
    assert found[("enlace_http_request_duration_seconds_count",
                  labels(route=route, method="GET"))] == 3
    assert found[("enlace_http_request_duration_seconds_bucket",
                  labels(route=route, method="GET", le="+Inf"))] == 3
    assert found[("enlace_http_request_duration_seconds_sum",
                  labels(route=route, method="GET"))] > 0
    assert "a-secret-id" not in response.text
    assert "another-id" not in response.text
    assert "/nowhere" not in response.text


async def test_with_a_metrics_token_only_its_bearer_may_scrape() -> None:
    transport = httpx.ASGITransport(app=service(token="s3cret-scrape"))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        refused = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": "Bearer nope"})
        taken = await client.get("/metrics",
                                 headers={"Authorization": "Bearer s3cret-scrape"})
    assert refused.status_code == 401
    assert refused.json()["code"] == "metrics_token_required"
    assert wrong.status_code == 401
    assert taken.status_code == 200
    assert "enlace_http_requests_total" in taken.text


async def test_a_failing_scrape_time_gauge_leaves_the_rest_exposed() -> None:
    metrics = ServiceMetrics("tiny")
    gauge = metrics.gauge("enlace_test_gauge", "A gauge set at scrape time.")

    async def sets() -> None:
        gauge.set(7)

    async def fails() -> None:
        raise ConnectionError("away")

    metrics.on_scrape("fails", fails)
    metrics.on_scrape("sets", sets)
    found = samples((await metrics.exposition()).decode())
    assert found[("enlace_test_gauge", frozenset())] == 7
