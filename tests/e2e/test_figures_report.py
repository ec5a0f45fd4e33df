"""Issue 11 on the real stack: a referral sent makes MX's statistics report, signed by the
sending institution, appear on NATS within a minute with the referral counted; the
gateway's own figures answer its administrators; nothing in the report names a case."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import nats.errors

from services.demo_data import SAMPLE_REFERRAL
from shared.protocol.envelope import unverified_parts
from shared.protocol.subjects import statistics_subject
from tests.conftest import RunningStack
from tests.e2e.test_referral_flow import delivered, send

REPORT_WAIT_SECONDS = 60


def sent_to_hn(report: dict[str, Any]) -> int:
    """The report's referrals from MX to HN over all months (the cells without breakdown)."""
    return sum(c["count"] for c in report["cells"] if c["indicator"] == "referrals"
               and set(c["dims"]) == {"origin", "destination", "month"}
               and c["dims"]["destination"] == "HN")


async def report_counting(stack: RunningStack, institution: str,
                          at_least: int) -> dict[str, Any]:
    """The first report on MX's subject, read as the secretariat's admin from the stream's
    start, of the institution and counting at least `at_least` referrals to HN. A report
    may come in several parts (messages with the same report_id): their cells together."""
    nc = await stack.nats("admin")
    parts: dict[str, dict[int, dict[str, Any]]] = {}
    try:
        subscription = await nc.jetstream(timeout=10).subscribe(
            statistics_subject("MX"), ordered_consumer=True)
        deadline = asyncio.get_running_loop().time() + REPORT_WAIT_SECONDS
        while True:
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, "no report within a minute"
            try:
                message = await subscription.next_msg(timeout=left)
            except nats.errors.TimeoutError:
                continue
            header, part = unverified_parts(message.data.decode())
            assert header["typ"] == "enlace-statistics+jws"
            assert len(message.data) < 1024 * 1024  # NATS's max_payload
            if part["institution_id"] != institution:
                continue
            received = parts.setdefault(part["report_id"], {})
            received[part.get("part", 1)] = part
            if len(received) < part.get("parts", 1):
                continue
            report = {**part, "cells": [c for n in sorted(received)
                                        for c in received[n]["cells"]]}
            if sent_to_hn(report) >= at_least:
                return report
    finally:
        await nc.close()


def own_count(stack: RunningStack) -> int:
    with stack.gateway("MX", "mx-sndif", "country_admin") as mx:
        answer = mx.get("/v1/figures", params={"indicator": "referrals", "country": "MX"})
    assert answer.status_code == 200, answer.text
    return sum(c["value"] for c in answer.json()["cells"] if c["dims"]["destination"] == "HN")


def test_a_referral_sent_reaches_the_registry_in_mx_statistics_within_a_minute(
        stack: RunningStack):
    before = own_count(stack)
    response = send(stack)
    assert response.status_code == 202
    delivered(stack, response.json()["id"])
    assert own_count(stack) == before + 1
    # Several institutions report on MX's subject: wait for mx-sndif's counting this one.
    report = asyncio.run(report_counting(stack, "mx-sndif", before + 1))
    assert report["country"] == "MX"
    # Nothing of the child or the case, and no exact date but the moment of computing.
    child = SAMPLE_REFERRAL["record"]["child"]
    text = json.dumps({k: v for k, v in report.items() if k != "computed_at"},
                      ensure_ascii=False)
    for value in (SAMPLE_REFERRAL["case_reference"], child["given_names"],
                  child["family_names"], response.json()["id"]):
        assert value not in text
    assert not re.search(r"\d{4}-\d{2}-\d{2}", text)
    with stack.gateway("MX", "mx-sndif", "caseworker") as mx:
        assert mx.get("/v1/figures", params={"indicator": "referrals"}).status_code == 403
