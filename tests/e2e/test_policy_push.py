"""Issue 10 through the real running system (`enlace up`, real nats-server): the gateways
decide referrals from their signed policy snapshots without calling the registry, and a
change at the registry reaches them through its NATS notice. The periodic refresh is set
to an hour here, so only the notice can make a change count within a test."""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from services.demo_data import SAMPLE_REFERRAL
from services.registry.seed import DEMO_AGREEMENT, DEMO_CONSENT
from tests.conftest import RunningStack, wait_until

DECISION_PATH = "/v1/policy/decisions"


@pytest.fixture(scope="module")
def stack_env() -> dict[str, str]:
    return {"ENLACE_POLICY_SNAPSHOT_REFRESH_SECONDS": "3600"}


def snapshot_held(stack: RunningStack, country: str, institution: str) -> dict[str, Any]:
    """The payload of the snapshot the gateway last verified and wrote ({} if none)."""
    path = Path(stack.info["gateways"][country]["data_dir"]) / "policy-snapshots" / \
        f"{institution}.jws"
    if not path.exists():
        return {}
    payload = path.read_text().split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def demo_agreement_status(snapshot: dict[str, Any]) -> str | None:
    return next((a["status"] for a in snapshot.get("agreements", [])
                 if a["id"] == DEMO_AGREEMENT["id"]), None)


def decisions_asked(stack: RunningStack) -> int:
    """How many policy decisions the registry has answered (its request log)."""
    log = (stack.data_dir / "logs" / "registry.log").read_text(errors="replace")
    return sum(1 for line in log.splitlines()
               if "http_request" in line and DECISION_PATH in line)


def send(stack: RunningStack, case_reference: str | None = None) -> Any:
    body = copy.deepcopy(SAMPLE_REFERRAL)
    if case_reference:
        body["case_reference"] = case_reference
    with stack.gateway("MX", "mx-sndif") as mx:
        return mx.post("/v1/referrals", json=body)


def delivered(stack: RunningStack, referral_id: str) -> None:
    with stack.gateway("MX", "mx-sndif") as mx:
        wait_until(lambda: mx.get(f"/v1/referrals/{referral_id}").json()["status"]
                   == "delivered", timeout=60)


def both_hold_the_active_demo_agreement(stack: RunningStack) -> bool:
    return all(demo_agreement_status(snapshot_held(stack, country, institution)) == "active"
               for country, institution in (("MX", "mx-sndif"), ("HN", "hn-senaf")))


def test_a_referral_is_decided_in_both_gateways_with_no_call_to_the_registry(
        stack: RunningStack):
    # Fetched at start-up, before the demo agreement was signed; signing it was a change
    # the registry told them of (the hourly refresh is far away).
    wait_until(lambda: both_hold_the_active_demo_agreement(stack), timeout=60)
    before = decisions_asked(stack)

    sent = send(stack)
    assert sent.status_code == 202, sent.text
    delivered(stack, sent.json()["id"])  # Honduras decided on receipt, from its snapshot too
    assert decisions_asked(stack) == before

    with stack.registry("auditor") as registry:
        items = wait_until(lambda: (i := registry.get("/v1/audit/entries", params={
            "message_id": sent.json()["id"]}).json()["items"])
            and {"sent", "received"} <= {e["event_type"] for e in i} and i, timeout=60)
    # Checked after the fact by the registry, and found in order.
    assert "policy-mismatch" not in {e["event_type"] for e in items}


def test_an_agreement_suspended_at_the_registry_stops_the_next_referral_through_the_notice(
        stack: RunningStack):
    wait_until(lambda: both_hold_the_active_demo_agreement(stack), timeout=60)
    assert send(stack).status_code == 202
    status = f"/v1/agreements/{DEMO_AGREEMENT['id']}/versions/1/status"
    with stack.registry("regional_admin") as registry:
        suspended = registry.post(status, json={"status": "suspended"})
        assert suspended.status_code == 200, suspended.text
        try:
            refused = wait_until(lambda: (r := send(stack)).status_code == 403 and r,
                                 timeout=30)
            assert "agreement_not_active" in [c["code"] for c in refused.json()["reasons"]]
            wait_until(lambda: demo_agreement_status(
                snapshot_held(stack, "HN", "hn-senaf")) == "suspended", timeout=30)
        finally:
            resumed = registry.post(status, json={"status": "active"})
            assert resumed.status_code == 200, resumed.text
    wait_until(lambda: both_hold_the_active_demo_agreement(stack), timeout=30)
    assert send(stack).status_code == 202


def test_a_consent_withdrawn_stops_the_next_referral_and_reaches_the_recipient_too(
        stack: RunningStack):
    case = "MX-DIF-2026-PUSH-1"
    consent = {**DEMO_CONSENT, "case_reference": case}
    with stack.gateway("MX", "mx-sndif") as mx:
        recorded = mx.post("/v1/consents", json=consent)
        assert recorded.status_code == 201, recorded.text
        assert send(stack, case).status_code == 202

        def withdrawal_at_hn() -> bool:
            bases = snapshot_held(stack, "HN", "hn-senaf").get("bases", [])
            return any(b["id"] == recorded.json()["id"] and b["withdrawn_at"] for b in bases)

        assert not withdrawal_at_hn()
        withdrawn = mx.post(f"/v1/consents/{recorded.json()['id']}/withdrawal",
                            json={"withdrawn_by": "guardian", "reason": "changed-mind"})
        assert withdrawn.status_code == 200, withdrawn.text
    refused = send(stack, case)
    assert refused.status_code == 403
    assert [r["code"] for r in refused.json()["reasons"]] == ["consent_withdrawn"]
    # Honduras, which would receive under it, learns of it through the notice.
    wait_until(withdrawal_at_hn, timeout=30)
