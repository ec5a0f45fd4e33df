"""Issue 10, point 3: the registry checks gateways' `sent` and `received` referral events after
the fact with its own data; a flow it would have denied is flagged as a `policy-mismatch`
entry, visible to the auditor, and the event itself is always kept."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.registry.messaging import AuditIngest
from services.registry.service import RegistryService, mismatch_event_id
from shared.protocol.envelope import load_or_create_private_key
from tests.registry.conftest import NOW, Registry
from tests.registry.test_audit_api import FakeMsg, signed

WITHDRAWAL = {"withdrawn_by": "guardian", "reason": "changed-mind"}


def now() -> datetime:
    return datetime.now(UTC)


def consent(registry: Registry) -> dict[str, Any]:
    """The test case's consent, valid since before any event of the test."""
    return registry.consent(valid_from=(NOW - timedelta(days=1)).isoformat())


def referral_event(event_type: str = "sent", **overrides: Any) -> dict[str, Any]:
    sent = event_type == "sent"
    body = {
        "v": "1", "event_id": str(uuid.uuid4()), "event_type": event_type,
        "occurred_at": now().isoformat(),
        "institution_id": "mx-sndif" if sent else "hn-senaf",
        "counterpart_id": "hn-senaf" if sent else "mx-sndif",
        "message_id": str(uuid.uuid4()), "message_type": "referral",
        "case_reference": "MX-TEST-0001", "agreement_id": "agr-test",
        "detail": {"categories": ["identity", "protection"], "withheld_categories": []}
        if sent else {"categories": ["identity", "protection"]},
    }
    return {**body, **overrides}


async def ingest(registry: Registry, *events: dict[str, Any], checked: bool = True
                 ) -> list[str]:
    messages = [FakeMsg(signed(registry, e), "enlace.audit." + (
        "MX" if e["institution_id"].startswith("mx") else "HN")) for e in events]
    key = load_or_create_private_key(registry.key_path) if checked else None
    await AuditIngest(registry.engine, registry.directory, key).handle_batch(
        messages)  # type: ignore[arg-type]
    return [m.outcome for m in messages]


def mismatches(registry: Registry) -> list[dict[str, Any]]:
    return registry.entries(event_type="policy-mismatch")


async def test_a_flow_the_registry_allows_is_not_flagged(registry: Registry):
    registry.activate()
    consent(registry)
    sent, received = referral_event("sent"), referral_event("received")
    assert await ingest(registry, sent, received) == ["ack", "ack"]
    assert {e["event_id"] for e in registry.entries(event_type="sent")} == {sent["event_id"]}
    assert mismatches(registry) == []


async def test_a_referral_sent_after_the_consent_was_withdrawn_is_flagged(registry: Registry):
    registry.activate()
    given = consent(registry)
    registry.ok("mx-sndif", "POST", f"/v1/consents/{given['id']}/withdrawal", json=WITHDRAWAL)
    sent = referral_event("sent")
    received = referral_event("received", message_id=sent["message_id"])
    assert await ingest(registry, sent, received) == ["ack", "ack"]

    # The events are kept as they came; beside each, the registry's flag, signed by it.
    assert {e["event_id"] for e in registry.entries(message_id=sent["message_id"])
            if e["event_type"] in ("sent", "received")} == {sent["event_id"],
                                                            received["event_id"]}
    flagged = {e["detail"]["event_id"]: e for e in mismatches(registry)}
    assert set(flagged) == {sent["event_id"], received["event_id"]}
    entry = flagged[sent["event_id"]]
    assert entry["source"] == "registry" and entry["jws"]
    assert (entry["institution_id"], entry["counterpart_id"], entry["agreement_id"],
            entry["message_id"]) == ("mx-sndif", "hn-senaf", "agr-test", sent["message_id"])
    assert entry["detail"] == {"event_id": sent["event_id"], "event_type": "sent",
                               "reasons": ["consent_withdrawn"]}
    assert flagged[received["event_id"]]["institution_id"] == "hn-senaf"


async def test_a_referral_under_a_suspended_agreement_is_flagged(registry: Registry):
    agreement = registry.activate()
    consent(registry)
    assert registry.set_status(agreement["id"], "suspended").status_code == 200
    sent = referral_event("sent")
    await ingest(registry, sent)
    [entry] = mismatches(registry)
    assert "agreement_not_active" in entry["detail"]["reasons"]


async def test_an_agreement_the_registry_does_not_know_is_flagged(registry: Registry):
    await ingest(registry, referral_event("sent", agreement_id="agr-invented"))
    [entry] = mismatches(registry)
    assert entry["detail"]["reasons"] == ["no_agreement"]


async def test_a_consent_withdrawn_after_the_referral_is_not_a_mismatch(registry: Registry):
    registry.activate()
    given = consent(registry)
    registry.ok("mx-sndif", "POST", f"/v1/consents/{given['id']}/withdrawal", json=WITHDRAWAL)
    # Sent ten minutes ago, delivered to the registry late: the consent held then.
    sent = referral_event("sent", occurred_at=(now() - timedelta(minutes=10)).isoformat())
    assert await ingest(registry, sent) == ["ack"]
    assert registry.entries(event_type="sent") and mismatches(registry) == []


async def test_a_redelivered_batch_is_flagged_once(registry: Registry):
    sent = referral_event("sent", agreement_id="agr-invented")
    await ingest(registry, sent)
    await ingest(registry, sent)
    assert [e["detail"]["event_id"] for e in mismatches(registry)] == [sent["event_id"]]
    assert mismatches(registry)[0]["event_id"] == mismatch_event_id(sent["event_id"])


async def test_a_failing_check_never_costs_the_event(registry: Registry, monkeypatch):
    def broken(self: RegistryService, events: list[Any]) -> int:
        raise RuntimeError("the check is broken")

    monkeypatch.setattr(RegistryService, "flag_policy_mismatches", broken)
    sent = referral_event("sent", agreement_id="agr-invented")
    assert await ingest(registry, sent) == ["ack"]
    assert [e["event_id"] for e in registry.entries(event_type="sent")] == [sent["event_id"]]
    assert mismatches(registry) == []


async def test_other_events_are_not_checked(registry: Registry):
    read = {**referral_event("sent", agreement_id="agr-invented"),
            "event_type": "record-read", "detail": {"role": "caseworker"}}
    await ingest(registry, read)
    assert registry.entries(event_type="record-read") and mismatches(registry) == []


async def test_without_the_registrys_key_nothing_is_checked(registry: Registry):
    await ingest(registry, referral_event("sent", agreement_id="agr-invented"), checked=False)
    assert mismatches(registry) == []
