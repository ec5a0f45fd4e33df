"""The statistics reporter publishes an institution's report when its cells changed, signed
by that institution, on its country's subject with the report id as the message id."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from benchmarks.regional_figures_bench import cells_of
from services.exchange.figures import report as report_module
from services.exchange.figures.facts import record_sent
from services.exchange.figures.report import StatisticsReporter
from services.exchange.gateway import Gateway
from services.exchange.referrals.models import Referral
from shared.kit.db import make_engine, migrate, session_scope
from shared.protocol.envelope import generate_signing_key, public_jwk, verify
from shared.protocol.figures import StatisticsReport, sign_report

NATS_MAX_PAYLOAD = 1024 * 1024  # deploy/nats: max_payload 1MB

HOSTED = ("mx-inm", "mx-sndif")


class Stream:
    """Stands for JetStream: keeps what is published."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, dict[str, str]]] = []

    async def publish(self, subject: str, payload: bytes, headers: dict[str, str]) -> None:
        self.published.append((subject, payload, headers))


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    url = f"sqlite:///{tmp_path / 'exchange.db'}"
    migrate("services.exchange", url)
    return Gateway(country="MX", engine=make_engine(url),
                   keys={i: generate_signing_key() for i in HOSTED}, encryption_keys={},
                   directory=None, registry=None,  # type: ignore[arg-type]
                   message_ttl_seconds=3600)


def send(gateway: Gateway, referral_id: str, sender: str) -> None:
    with session_scope(gateway.engine) as session:
        referral = Referral(
            id=referral_id, direction="outbound", sender_id=sender, recipient_id="hn-senaf",
            status="queued", case_reference="C-1", purpose="follow-up", agreement_id="a",
            categories=[], record={"child": {"sex": "male", "estimated_age": 8}},
            envelope="jws", envelope_digest="d", created_at=datetime(2026, 11, 5, tzinfo=UTC))
        session.add(referral)
        record_sent(session, referral, "MX", "HN")


def referrals_in(gateway: Gateway, published: tuple[str, bytes, dict[str, str]]
                 ) -> tuple[str, int]:
    subject, payload, headers = published
    assert subject == "enlace.stats.MX"
    token = payload.decode()
    _, claimed = verify(token, [public_jwk(k) for k in gateway.keys.values()],
                        max_payload_bytes=10_000_000)
    institution = claimed["institution_id"]
    # Signed by the institution it is about, and by no other.
    verify(token, [public_jwk(gateway.keys[institution])], max_payload_bytes=10_000_000)
    assert headers["Nats-Msg-Id"] == claimed["report_id"]  # a report in one part
    assert (claimed["part"], claimed["parts"]) == (1, 1)
    count = sum(c["count"] for c in claimed["cells"]
                if c["indicator"] == "referrals" and len(c["dims"]) == 3)
    return institution, count


def test_a_report_goes_out_once_per_change(gateway: Gateway) -> None:
    stream = Stream()
    reporter = StatisticsReporter(gateway, stream)  # type: ignore[arg-type]

    def round_() -> list[tuple[str, int]]:
        before = len(stream.published)
        asyncio.run(reporter.report_changes())
        return [referrals_in(gateway, p) for p in stream.published[before:]]

    assert round_() == [("mx-inm", 0), ("mx-sndif", 0)]  # the first look: everyone's
    assert round_() == []  # nothing changed
    send(gateway, "r-1", "mx-sndif")
    assert round_() == [("mx-sndif", 1)]
    send(gateway, "r-2", "mx-inm")
    send(gateway, "r-3", "mx-inm")
    assert round_() == [("mx-inm", 2)]
    assert round_() == []


def test_nothing_is_reported_before_the_keys_are_registered(gateway: Gateway) -> None:
    """A report signed before the directory has the key is refused by the registry (unknown
    or not yet valid key), and an unchanged one would be sent again only an hour later."""
    stream, registered = Stream(), asyncio.Event()
    reporter = StatisticsReporter(gateway, stream,  # type: ignore[arg-type]
                                  keys_registered=registered)
    assert asyncio.run(reporter.report_changes()) == 0
    assert stream.published == []
    registered.set()
    assert asyncio.run(reporter.report_changes()) == 2
    assert sorted(h["Enlace-Sender"] for _, _, h in stream.published) == list(HOSTED)


def test_a_report_over_natss_limit_goes_out_in_parts_under_it(
        gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    """A year of every breakdown (~1.9 MB signed) in parts of one report, each < 1 MB."""
    cells = cells_of("MX", [f"2026-{m:02d}" for m in range(1, 13)], random.Random(11))
    whole = StatisticsReport(report_id=str(uuid.uuid4()), institution_id="mx-sndif",
                             country="MX", computed_at=datetime.now(UTC), cells=cells)
    assert len(sign_report(whole, gateway.keys["mx-sndif"])) > NATS_MAX_PAYLOAD
    monkeypatch.setattr(report_module, "build_report",
                        lambda gw, institution: whole if institution == "mx-sndif"
                        else whole.model_copy(update={"institution_id": institution,
                                                      "cells": []}))
    stream = Stream()
    asyncio.run(StatisticsReporter(gateway, stream).report_changes())  # type: ignore[arg-type]
    mine = [p for p in stream.published if p[2]["Enlace-Sender"] == "mx-sndif"]
    assert len(mine) >= 2
    assert all(len(payload) < NATS_MAX_PAYLOAD for _, payload, _ in mine)
    parts = [verify(payload.decode(), [public_jwk(gateway.keys["mx-sndif"])],
                    max_payload_bytes=NATS_MAX_PAYLOAD)[1] for _, payload, _ in mine]
    assert [(p["report_id"], p["part"], p["parts"]) for p in parts] == [
        (whole.report_id, n, len(mine)) for n in range(1, len(mine) + 1)]
    assert [h["Nats-Msg-Id"] for *_, h in mine] == [
        f"{whole.report_id}.{n}" for n in range(1, len(mine) + 1)]
    assert [c for p in parts for c in p["cells"]] == [
        c.model_dump(mode="json") for c in whole.cells]
