"""Two institutions hosted by one gateway (SNDIF and PFPNNA, both on the Mexican gateway):
a referral between them reaches the other's inbox without NATS, and neither sees the
other's quarantine."""

from __future__ import annotations

import copy
import uuid

from services.demo_data import SAMPLE_REFERRAL
from services.registry.seed import DEMO_AGREEMENT
from shared.protocol.envelope import Envelope, generate_signing_key, sign_envelope
from tests.conftest import RunningStack
from tests.e2e.test_quarantine import publish
from tests.helpers import wait_until

AGREEMENT_ID = "agr-mx-sndif-mx-pfpnna-test"
CASE = "MX-DIF-2026-LOCAL-7"


def sign_local_agreement(stack: RunningStack) -> None:
    """Made by the regional administrator, signed by each party's country administrator
    through the gateway (as services/registry/seed.py does for the demo agreement)."""
    terms = {**DEMO_AGREEMENT, "id": AGREEMENT_ID, "parties": ["mx-sndif", "mx-pfpnna"],
             "title": "Convenio SNDIF y PFPNNA (prueba)"}
    with stack.registry("regional_admin") as registry:
        created = registry.post("/v1/agreements", json=terms)
        assert created.status_code == 201, created.text
        status = registry.post(f"/v1/agreements/{AGREEMENT_ID}/versions/1/status",
                               json={"status": "awaiting-signatures"})
        assert status.status_code == 200, status.text
    for party in ("mx-sndif", "mx-pfpnna"):
        with stack.gateway("MX", party, role="country_admin") as admin:
            signed = admin.post(f"/v1/agreements/{AGREEMENT_ID}/signatures",
                                json={"version": 1})
        assert signed.status_code == 201, signed.text
    with stack.gateway("MX", "mx-sndif") as sndif:
        consent = sndif.post("/v1/consents", json={
            "case_reference": CASE, "basis": "consent", "given_by": "legal-representative",
            "child_heard": True, "child_views": "agrees", "recipients": ["mx-pfpnna"],
            "purposes": DEMO_AGREEMENT["purposes"],
            "data_categories": DEMO_AGREEMENT["data_categories"],
            "valid_from": DEMO_AGREEMENT["valid_from"]})
    assert consent.status_code == 201, consent.text


def view(stack: RunningStack, institution: str, referral_id: str) -> dict:
    with stack.gateway("MX", institution) as client:
        response = client.get(f"/v1/referrals/{referral_id}")
    return response.json() if response.status_code == 200 else {}


def both_show(stack: RunningStack, referral_id: str, status: str) -> tuple[dict, dict]:
    return wait_until(lambda: (s := view(stack, "mx-sndif", referral_id)).get("status") == status
                      and (p := view(stack, "mx-pfpnna", referral_id)).get("status") == status
                      and (s, p), timeout=60)


def act(stack: RunningStack, institution: str, referral_id: str, **body: str) -> dict:
    with stack.gateway("MX", institution) as client:
        response = client.post(f"/v1/referrals/{referral_id}/actions", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def audit_of(stack: RunningStack, referral_id: str) -> set[tuple[str, str]]:
    with stack.registry("auditor") as registry:
        items = registry.get("/v1/audit/entries", params={"message_id": referral_id}).json()
    return {(item["event_type"], item["institution_id"]) for item in items["items"]}


def test_referral_between_two_institutions_of_one_gateway(stack: RunningStack):
    sign_local_agreement(stack)
    body = copy.deepcopy(SAMPLE_REFERRAL)
    body.update(recipient_id="mx-pfpnna", case_reference=CASE)
    with stack.gateway("MX", "mx-sndif") as sndif:
        sent = sndif.post("/v1/referrals", json=body)
    assert sent.status_code == 202, sent.text
    referral_id = sent.json()["id"]

    outbound, inbound = both_show(stack, referral_id, "delivered")
    assert (outbound["direction"], inbound["direction"]) == ("outbound", "inbound")
    assert inbound["sender_id"] == "mx-sndif" and inbound["recipient_id"] == "mx-pfpnna"
    assert inbound["record"]["child"] == outbound["record"]["child"]
    assert outbound["receipt"]["signed_by"] == "mx-pfpnna"
    with stack.gateway("MX", "mx-pfpnna") as pfpnna:
        inbox = pfpnna.get("/v1/referrals", params={"direction": "inbound"}).json()["items"]
    assert referral_id in [item["id"] for item in inbox]
    with stack.gateway("MX", "mx-sndif") as sndif:
        own_inbox = sndif.get("/v1/referrals", params={"direction": "inbound"}).json()["items"]
    assert referral_id not in [item["id"] for item in own_inbox]

    # Each side may take only its own side's steps, and the other side sees them.
    with stack.gateway("MX", "mx-sndif") as sndif:
        refused = sndif.post(f"/v1/referrals/{referral_id}/actions", json={"action": "accept"})
    assert refused.status_code == 409
    act(stack, "mx-pfpnna", referral_id, action="accept")
    both_show(stack, referral_id, "accepted")
    act(stack, "mx-sndif", referral_id, action="note", note="Llega el lunes.")
    act(stack, "mx-pfpnna", referral_id, action="close", outcome="Recibida en el CAS.")
    outbound, inbound = both_show(stack, referral_id, "closed")
    assert [h["action"] for h in outbound["history"]] == \
        [h["action"] for h in inbound["history"]] == ["deliver", "accept", "note", "close"]

    expected = {("sent", "mx-sndif"), ("received", "mx-pfpnna"), ("receipt", "mx-sndif")}
    assert wait_until(lambda: audit_of(stack, referral_id) >= expected and True)


def quarantine_ids(stack: RunningStack, institution: str, role: str) -> set[str]:
    with stack.gateway("MX", institution, role=role) as client:
        response = client.get("/v1/quarantine")
    assert response.status_code == 200, response.text
    return {item["message_id"] for item in response.json()["items"]}


async def test_quarantine_shows_each_institution_only_what_was_addressed_to_it(
        stack: RunningStack):
    forged = {}
    for recipient in ("mx-sndif", "mx-nobody"):
        envelope = Envelope.new(
            ttl_seconds=3600, type="referral", sender="hn-senaf", recipients=[recipient],
            agreement="agr-x", purpose="reception-and-care", categories=[],
            body={"case_reference": f"Q-{uuid.uuid4().hex[:8]}"})
        await publish(stack, sign_envelope(envelope, generate_signing_key()).encode(),
                      envelope.id, subject=f"enlace.msg.MX.{recipient}.referral",
                      identity="gateway-HN")
        forged[recipient] = envelope.id
    wait_until(lambda: set(forged.values()) <= quarantine_ids(stack, "mx-sndif",
                                                              "country_admin"))
    assert forged["mx-sndif"] in quarantine_ids(stack, "mx-sndif", "auditor")
    # PFPNNA's administrator and auditor do not see what was addressed to SNDIF; the
    # administrator sees what is addressed to no institution of this gateway.
    assert quarantine_ids(stack, "mx-pfpnna", "country_admin") & set(forged.values()) == \
        {forged["mx-nobody"]}
    assert quarantine_ids(stack, "mx-pfpnna", "auditor") & set(forged.values()) == set()
