"""Agreements, consents and the policy snapshot through the real running system (`enlace up`):
administrators sign with the keys in their gateways, caseworkers record and withdraw consent
through theirs, and gateways keep deciding (and auditing) while the registry is stopped."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import KeySet

from services.demo_data import SAMPLE_REFERRAL
from tests.conftest import SQLITE_ONLY, RunningStack
from tests.helpers import wait_until

# A stack of its own: it stops and starts the registry. On SQLite only: a stopped registry and the
# gateways' policy snapshots; the registry's storage is tested on both in tests/registry.
pytestmark = [pytest.mark.own_stack, SQLITE_ONLY]

AGREEMENT = {
    "id": "agr-mx-pfpnna-hn-2026", "title": "PFPNNA (México) y Honduras",
    "parties": ["mx-pfpnna", "HN"], "message_types": ["referral", "receipt"],
    "purposes": ["reception-and-care"],
    "data_categories": ["identity", "protection", "child-views", "location", "family"],
    "legal_bases": ["consent"], "retention_days": 730,
    "valid_from": "2026-01-01T00:00:00Z", "valid_to": "2030-01-01T00:00:00Z",
}


def consent(case_reference: str, recipients: list[str]) -> dict[str, Any]:
    return {"case_reference": case_reference, "basis": "consent", "given_by": "guardian",
            "child_heard": True, "child_views": "agrees", "recipients": recipients,
            "purposes": ["reception-and-care"],
            "data_categories": ["identity", "protection", "child-views", "location", "family"]}


def referral(case_reference: str) -> dict[str, Any]:
    body = copy.deepcopy(SAMPLE_REFERRAL)
    body["case_reference"] = case_reference
    return body


def send(stack: RunningStack, body: dict[str, Any], institution: str = "mx-sndif") -> Any:
    with stack.gateway("MX", institution) as mx:
        return mx.post("/v1/referrals", json=body)


def delivered(stack: RunningStack, referral_id: str, institution: str = "mx-sndif") -> None:
    with stack.gateway("MX", institution) as mx:
        wait_until(lambda: mx.get(f"/v1/referrals/{referral_id}").json()["status"]
                   == "delivered", timeout=60)


def audit_types(stack: RunningStack, **params: str) -> list[str]:
    with stack.registry("auditor") as registry:
        items = registry.get("/v1/audit/entries", params=params).json()["items"]
    return [item["event_type"] for item in items]


def enlace(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.cli", *args], capture_output=True,
                          text=True, timeout=120)


def test_an_agreement_is_active_once_every_party_signed_in_its_gateway(stack: RunningStack):
    with stack.registry("regional_admin") as registry:
        assert registry.post("/v1/agreements", json=AGREEMENT).status_code == 201
        assert registry.post(f"/v1/agreements/{AGREEMENT['id']}/versions/1/status",
                             json={"status": "awaiting-signatures"}).status_code == 200
    path = f"/v1/agreements/{AGREEMENT['id']}/signatures"
    with stack.gateway("MX", "mx-pfpnna", "caseworker") as caseworker:
        assert caseworker.post(path, json={"version": 1}).json()["code"] == "role_not_allowed"
        case = "MX-PFPNNA-2026-0001"
        recorded = caseworker.post("/v1/consents", json=consent(case, ["HN"]))
        assert recorded.status_code == 201, recorded.text
    with stack.gateway("MX", "mx-sndif", "country_admin") as other:
        assert other.post(path, json={"version": 1}).json()["code"] == "not_a_party"
    with stack.gateway("MX", "mx-pfpnna", "country_admin") as mx_admin:
        first = mx_admin.post(path, json={"version": 1})
    assert first.status_code == 201, first.text
    assert (first.json()["status"], first.json()["unsigned_parties"]) == (
        "awaiting-signatures", ["HN"])
    denied = send(stack, referral(case), "mx-pfpnna")
    assert denied.status_code == 403
    assert "agreement_not_active" in [r["code"] for r in denied.json()["reasons"]]

    with stack.gateway("HN", "hn-senaf", "country_admin") as hn_admin:
        last = hn_admin.post(path, json={"version": 1})
    assert last.status_code == 201, last.text
    agreement = last.json()
    assert agreement["status"] == "active"
    # Each signature verifies with the signer's key as the directory publishes it.
    for signature in agreement["signatures"]:
        keys = stack.directory().get(f"/v1/institutions/{signature['signer_id']}/jwks").json()
        payload = json.loads(jws.deserialize_compact(
            signature["jws"], KeySet.import_key_set(keys), algorithms=["Ed25519"]).payload)
        assert payload["party"] == signature["party"]
        assert payload["agreement"]["version"] == 1
    assert {s["party"]: s["signer_id"] for s in agreement["signatures"]} == {
        "mx-pfpnna": "mx-pfpnna", "HN": "hn-senaf"}

    sent = send(stack, referral(case), "mx-pfpnna")
    assert sent.status_code == 202, sent.text
    delivered(stack, sent.json()["id"], "mx-pfpnna")


def test_a_consent_withdrawn_in_the_gateway_stops_the_next_referral(stack: RunningStack):
    case = "MX-DIF-2026-WD-1"
    with stack.gateway("MX", "mx-sndif") as mx:
        recorded = mx.post("/v1/consents", json=consent(case, ["hn-senaf"]))
        assert recorded.status_code == 201, recorded.text
        assert send(stack, referral(case)).status_code == 202
        withdrawn = mx.post(f"/v1/consents/{recorded.json()['id']}/withdrawal",
                            json={"withdrawn_by": "guardian", "reason": "changed-mind"})
        assert withdrawn.status_code == 200, withdrawn.text
        listed = mx.get("/v1/consents", params={"case_reference": case}).json()["items"]
    assert [c["withdrawn_at"] is not None for c in listed] == [True]
    refused = send(stack, referral(case))
    assert refused.status_code == 403
    assert [r["code"] for r in refused.json()["reasons"]] == ["consent_withdrawn"]
    types = wait_until(lambda: (t := audit_types(stack, case_reference=case))
                       and {"sent", "consent-withdrawn", "denied"} <= set(t) and t,
                       timeout=30)
    assert types[0] == "consent-recorded"
    assert types.index("consent-withdrawn") < types.index("denied")


def test_gateways_decide_from_the_snapshot_while_the_registry_is_stopped(stack: RunningStack):
    # One decision each while the registry is up gives each institution a signed snapshot.
    warm = send(stack, SAMPLE_REFERRAL)
    assert warm.status_code == 202
    delivered(stack, warm.json()["id"])
    data_dir = str(stack.data_dir)
    stopped = enlace("service", "stop", "registry", "--data-dir", data_dir)
    assert stopped.returncode == 0, stopped.stderr
    try:
        offline = send(stack, SAMPLE_REFERRAL)
        assert offline.status_code == 202, offline.text
        delivered(stack, offline.json()["id"])  # Honduras decided from its snapshot too
        refused = send(stack, referral("MX-DIF-2026-NO-CONSENT"))
        assert refused.status_code == 403
        assert [r["code"] for r in refused.json()["reasons"]] == ["no_consent"]
    finally:
        started = enlace("service", "start", "registry", "--data-dir", data_dir)
    assert started.returncode == 0, started.stderr
    # The audit events waited in JetStream and arrive now.
    referral_id = offline.json()["id"]
    wait_until(lambda: {"sent", "received", "receipt"} <= set(
        audit_types(stack, message_id=referral_id)), timeout=60)
    wait_until(lambda: "denied" in audit_types(stack, case_reference="MX-DIF-2026-NO-CONSENT"),
               timeout=60)
