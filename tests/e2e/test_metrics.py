"""What an operator scrapes: /metrics of the gateways, the registry and the directory of the
running stack move by exactly what a referral does, and name nobody (on both databases: the
gauges read at scrape time query each)."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from services.demo_data import SAMPLE_REFERRAL
from shared.protocol.envelope import generate_signing_key, sign_envelope
from tests.conftest import RunningStack
from tests.e2e.test_quarantine import forged_referral, publish, quarantined
from tests.e2e.test_referral_flow import delivered, send
from tests.helpers import wait_until

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape_text(url: str) -> str:
    response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return response.text


def samples(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def urls(stack: RunningStack) -> dict[str, str]:
    return {"MX": stack.info["gateways"]["MX"]["url"], "HN": stack.info["gateways"]["HN"]["url"],
            "registry": stack.info["registry"]["url"],
            "directory": stack.info["directory"]["url"]}


def test_a_referral_moves_the_counters_by_exactly_what_it_did(stack: RunningStack):
    where = urls(stack)
    before = {name: samples(scrape_text(url)) for name, url in where.items()}
    body = SAMPLE_REFERRAL
    response = send(stack, body)
    assert response.status_code == 202
    referral_id = response.json()["id"]
    delivered(stack, referral_id)

    def moved(at: str, name: str, by: float, **labels: str) -> bool:
        now = samples(scrape_text(where[at]))
        return value(now, name, **labels) - value(before[at], name, **labels) == by

    sent, received = "enlace_messages_sent_total", "enlace_messages_received_total"
    # The referral out of MX, into HN; HN's receipt back to MX.
    assert wait_until(lambda: moved("MX", sent, 1, type="referral"))
    assert wait_until(lambda: moved("HN", received, 1, type="referral", outcome="stored"))
    assert wait_until(lambda: moved("HN", sent, 1, type="receipt"))
    assert wait_until(lambda: moved("MX", received, 1, type="receipt", outcome="receipt"))
    assert moved("MX", "enlace_http_requests_total", 1, service="exchange",
                 route="/v1/referrals", method="POST", status="202")
    assert moved("HN", sent, 0, type="referral")
    assert moved("MX", received, 0, type="referral", outcome="stored")
    assert moved("MX", "enlace_messages_quarantined_total", 0, reason="bad_signature")
    # The audit events of both gateways reach the registry's log.
    assert wait_until(lambda: samples(scrape_text(where["registry"]))[
        ("enlace_audit_log_entries", frozenset())] > before["registry"][
        ("enlace_audit_log_entries", frozenset())])

    texts = {name: scrape_text(url) for name, url in where.items()}
    child = body["record"]["child"]
    for name, text in texts.items():
        for secret in (referral_id, body["case_reference"], child["given_names"],
                       child["family_names"]):
            assert secret not in text, f"{secret!r} in the metrics of {name}"
    for text in texts.values():
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                route = sample.labels.get("route")
                assert route is None or route == "unmatched" or route.startswith("/"), route
                assert not any(len(v) > 80 for v in sample.labels.values()), sample


async def test_a_forged_message_is_counted_quarantined_by_its_reason(stack: RunningStack):
    hn = stack.info["gateways"]["HN"]["url"]
    before = samples(scrape_text(hn))
    envelope = forged_referral()
    await publish(stack, sign_envelope(envelope, generate_signing_key()).encode(), envelope.id)
    wait_until(lambda: quarantined(stack, envelope.id))

    def moved(name: str, by: float, **labels: str) -> bool:
        now = samples(scrape_text(hn))
        return value(now, name, **labels) - value(before, name, **labels) == by

    assert wait_until(lambda: moved("enlace_messages_quarantined_total", 1, reason="unknown_key"))
    assert moved("enlace_messages_received_total", 1, type="referral", outcome="quarantined")
    assert moved("enlace_messages_received_total", 0, type="referral", outcome="stored")
    text = scrape_text(hn)
    assert envelope.id not in text
    assert "FORGED-1" not in text
    assert "Forged" not in text


def test_snapshot_ages_consumer_lag_and_the_audit_log_have_sane_values(stack: RunningStack):
    where = urls(stack)
    for country in ("MX", "HN"):
        found = samples(scrape_text(where[country]))
        age = found[("enlace_directory_snapshot_age_seconds", frozenset())]
        expires_in = found[("enlace_directory_snapshot_expires_in_seconds", frozenset())]
        assert 0 <= age < 24 * 3600
        assert 0 < expires_in <= 24 * 3600
        assert found[("enlace_directory_snapshot_version", frozenset())] >= 1
        assert found[("enlace_policy_snapshots_held", frozenset())] >= 1
        assert 0 <= found[("enlace_policy_snapshot_age_seconds", frozenset())] < 3600
        assert 0 < found[("enlace_policy_snapshot_expires_in_seconds", frozenset())] <= 3600
        assert found[("enlace_outbox_pending_messages", frozenset())] >= 0
        lag = ("enlace_consumer_pending_messages", frozenset({("consumer", "gateway")}))
        assert lag in found
        assert wait_until(lambda c=country, k=lag: samples(scrape_text(where[c]))[k] == 0)

    registry = samples(scrape_text(where["registry"]))
    assert registry[("enlace_audit_log_entries", frozenset())] >= 1
    assert 0 <= registry[("enlace_audit_ingest_lag_seconds", frozenset())] < 60
    assert registry[("enlace_audit_newest_entry_age_seconds", frozenset())] >= 0
    for consumer in ("audit", "statistics"):
        assert ("enlace_consumer_pending_messages",
                frozenset({("consumer", consumer)})) in registry

    directory = samples(scrape_text(where["directory"]))
    version = directory[("enlace_directory_version", frozenset())]
    assert version >= 1
    assert 0 <= directory[("enlace_directory_version_age_seconds", frozenset())] \
        < time.time()
    # The gateways keep up with the directory's version (they ask for changes every few
    # seconds), and have asked for snapshots.
    assert wait_until(lambda: samples(scrape_text(where["MX"]))[
        ("enlace_directory_snapshot_version", frozenset())] == version, timeout=60)
    assert sum(v for (name, _), v in directory.items()
               if name == "enlace_directory_snapshots_served_total") >= 2
