"""The statistics reporter publishes an institution's report when its cells changed, signed
by that institution, on its country's subject with the report id as the message id."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.exchange.figures.facts import record_sent
from services.exchange.figures.report import StatisticsReporter
from services.exchange.gateway import Gateway
from services.exchange.referrals.models import Referral
from shared.kit.db import make_engine, migrate, session_scope
from shared.protocol.envelope import generate_signing_key, public_jwk, verify

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
    assert headers["Nats-Msg-Id"] == claimed["report_id"]
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
