"""Signed audit events on the real running system: a referral's events arrive signed by the
institutions they are about and verify with the stock JOSE library against the directory's
public keys; events forged on the wire go to the audit quarantine, not the log."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from joserfc import jws
from joserfc.jwk import KeySet

from services.demo_data import SAMPLE_REFERRAL
from shared.protocol.audit_events import AUDIT_EVENT_MEDIA_TYPE
from shared.protocol.envelope import generate_signing_key, sign
from tests.conftest import RunningStack
from tests.helpers import wait_until


def entries(stack: RunningStack, **params: str) -> list[dict]:
    with stack.registry("auditor") as registry:
        return list(registry.get("/v1/audit/entries", params={"limit": 1000, **params})
                    .json()["items"])


def quarantine(stack: RunningStack) -> list[dict]:
    with stack.registry("auditor") as registry:
        response = registry.get("/v1/audit/quarantine", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def test_a_referrals_events_arrive_signed_by_their_institutions(stack: RunningStack):
    with stack.gateway("MX", "mx-sndif") as mx:
        referral_id = mx.post("/v1/referrals", json=SAMPLE_REFERRAL).json()["id"]
    items = wait_until(lambda: (lambda found: found if {"sent", "received", "receipt"} <= {
        e["event_type"] for e in found} else None)(entries(stack, message_id=referral_id)),
        timeout=60)
    with stack.directory() as directory:
        for item in items:
            jwks = directory.get(f"/v1/institutions/{item['institution_id']}/jwks").json()
            verified = jws.deserialize_compact(item["jws"], KeySet.import_key_set(jwks),
                                               algorithms=["Ed25519"])
            assert verified.headers()["typ"] == AUDIT_EVENT_MEDIA_TYPE
            payload = json.loads(verified.payload)
            assert (payload["event_id"], payload["event_type"], payload["institution_id"]) == (
                item["event_id"], item["event_type"], item["institution_id"])
    assert {(e["event_type"], e["institution_id"], e["source"]) for e in items} >= {
        ("sent", "mx-sndif", "gateway:MX"), ("received", "hn-senaf", "gateway:HN"),
        ("receipt", "mx-sndif", "gateway:MX")}


async def test_events_forged_on_the_wire_are_quarantined(stack: RunningStack):
    now = datetime.now(UTC).isoformat()
    read = {"v": "1", "event_id": str(uuid.uuid4()), "event_type": "record-read",
            "occurred_at": now, "institution_id": "hn-senaf", "counterpart_id": "mx-sndif",
            "message_id": str(uuid.uuid4()), "message_type": "referral",
            "detail": {"role": "caseworker"}}
    unsigned = {**read, "event_id": str(uuid.uuid4()), "institution_id": "mx-sndif"}
    before = len(quarantine(stack))
    nc = await stack.nats("gateway-MX")
    try:
        js = nc.jetstream()
        await js.publish("enlace.audit.MX", json.dumps(unsigned).encode())
        await js.publish("enlace.audit.MX", sign(read, generate_signing_key(),
                                                 AUDIT_EVENT_MEDIA_TYPE).encode())
    finally:
        await nc.close()
    rows = wait_until(lambda: (lambda q: q if len(q) >= before + 2 else None)(
        quarantine(stack)), timeout=60)
    assert sorted(r["reason"] for r in rows[before:]) == ["unsigned", "wrong_country"]
    logged = {e["event_id"] for e in entries(stack, event_type="record-read")}
    assert read["event_id"] not in logged and unsigned["event_id"] not in logged
